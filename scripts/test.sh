#!/usr/bin/env bash
# The test command (`npm test`, called by .ci/run): setup, type-check the
# tests, then unit and simulation tests (in parallel) and the namespace
# integration tests (one file at a time: they build real networks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Labs record what they create and which run made them; if a test runner dies
# hard, clean up after it — only this run's labs, never another run's.
export EO_LAB_RUN="test-$$-$(date +%s%N)"
own_labs() { grep -lx "$EO_LAB_RUN" "${TMPDIR:-/tmp}"/edge-overlay-lab-*/run 2>/dev/null | xargs -r -n1 dirname; }
trap 'bash test/lab/cleanup.sh $(own_labs)' EXIT

npx --no-install tsc -p tsconfig.test.json
npx --no-install vitest run test/unit test/sim
npx --no-install vitest run test/integration --no-file-parallelism
