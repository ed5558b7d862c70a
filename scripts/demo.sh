#!/usr/bin/env bash
# `npm run demo`: three namespace hosts behind a DHCP LAN, each running the
# real agent; shows status, pings across the overlay, renumbers a host
# through DHCP and shows the overlay recover with unchanged overlay IPs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "npm run demo needs root: it builds network namespaces (try: sudo npm run demo)" >&2
  exit 1
fi
bash scripts/setup.sh
exec node dist/scripts/demo.js "$@"
