#!/usr/bin/env bash
# `npm run bench [-- --quick] [-- --only recovery,mesh,mesh-nodhcp,footprint,scale,datapath,flood,family-switch] [-- --report-only]`
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "npm run bench needs root: it builds network namespaces" >&2
  exit 1
fi
bash scripts/setup.sh
if ! command -v iperf3 >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends iperf3 >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends iperf3 >/dev/null; } \
    || echo "bench: iperf3 could not be installed; the data path benchmark will be skipped" >&2
fi
exec node dist/bench/run.js "$@"
