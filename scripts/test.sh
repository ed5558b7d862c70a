#!/usr/bin/env bash
# The test command (`npm test`, called by .ci/run): setup, type-check the
# tests, then unit and simulation tests (in parallel) and the namespace
# integration tests (one file at a time: they build real networks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Labs record what they create; if a test runner dies hard, clean up after it.
marker=$(mktemp)
trap 'bash scripts/lab/cleanup.sh $(find "${TMPDIR:-/tmp}" -maxdepth 1 -name "edge-overlay-lab-*" -newer "$marker" 2>/dev/null); rm -f "$marker"' EXIT

npx --no-install tsc -p tsconfig.test.json
npx --no-install vitest run test/unit test/sim
npx --no-install vitest run test/integration --no-file-parallelism
