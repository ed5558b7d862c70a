#!/usr/bin/env bash
# Installs a built edge-overlay (run `npm run build` first) on this host, or
# under --destdir for packaging and tests. Idempotent: running it again
# updates the program and leaves configuration and keys alone.
#
#   scripts/install.sh [--destdir DIR] [--interface IF] [--key-file FILE] [--files-only] [--no-start]
#   scripts/install.sh --uninstall [--purge] [--destdir DIR]
#
# Puts the release under /opt/edge-overlay, `edge-overlay` on PATH
# (/usr/local/bin), the systemd unit, the networkd/NetworkManager drop-ins
# that keep them off our devices, and — unless they exist — a default
# /etc/edge-overlay/config.yaml (interface of the default route) and a
# cluster key (0600; copied from --key-file, else freshly generated).
# --uninstall removes the program, unit and drop-ins; --purge also the
# configuration, keys and state (the persisted overlay address!).
# Everything installed is root:root (when run as root) and writable by its
# owner only — files 0644/0755, directories 0755 — whatever the checkout's
# owner and modes and the caller's umask: the agent runs as root.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
SRC=$(pwd)

DESTDIR=""
IFACE=""
KEYFILE=""
FILES_ONLY=0
START=1
UNINSTALL=0
PURGE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) DESTDIR=$(realpath -m "$2"); shift 2 ;;
    --interface) IFACE=$2; shift 2 ;;
    --key-file) KEYFILE=$2; shift 2 ;;
    --files-only) FILES_ONLY=1; shift ;;
    --no-start) START=0; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

OPT="$DESTDIR/opt/edge-overlay"
BIN="$DESTDIR/usr/local/bin/edge-overlay"
UNIT="$DESTDIR/etc/systemd/system/edge-overlay.service"
NETWORKD="$DESTDIR/etc/systemd/network/10-edge-overlay-unmanaged.network"
NM="$DESTDIR/etc/NetworkManager/conf.d/edge-overlay-unmanaged.conf"
ETC="$DESTDIR/etc/edge-overlay"
STATE="$DESTDIR/var/lib/edge-overlay"
live_systemd() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

if [ "$UNINSTALL" = 1 ]; then
  if live_systemd; then systemctl disable --now edge-overlay.service 2>/dev/null || true; fi
  rm -rf "$OPT"
  rm -f "$BIN" "$UNIT" "$NETWORKD" "$NM"
  if [ "$PURGE" = 1 ]; then rm -rf "$ETC" "$STATE"; fi
  if live_systemd; then systemctl daemon-reload; fi
  if [ "$PURGE" = 1 ]; then echo "edge-overlay uninstalled (configuration, keys and state removed)"; else echo "edge-overlay uninstalled (configuration, keys and state kept)"; fi
  exit 0
fi

[ -f dist/src/main.js ] && [ -f build/Release/edge_overlay.node ] \
  || { echo "install.sh: no build found; run: npm run build" >&2; exit 1; }
NODE=$(command -v node) || { echo "install.sh: node (Node.js 20) is not on PATH" >&2; exit 1; }

# 1. the program: our files plus the production dependency tree, as built here
rm -rf "$OPT.new" # never build on a leftover someone else may have filled
mkdir -p "$OPT.new"
cp -a package.json README.md dist "$OPT.new/"
rm -rf "$OPT.new/dist/scripts" # the lab and demo are not part of a release
mkdir -p "$OPT.new/build/Release" "$OPT.new/systemd" "$OPT.new/scripts"
cp -a build/Release/edge_overlay.node "$OPT.new/build/Release/"
cp -a systemd/. "$OPT.new/systemd/"
cp -a scripts/configure.sh "$OPT.new/scripts/"
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | while read -r dir; do
  rel=${dir#"$SRC"/}
  mkdir -p "$OPT.new/$(dirname "$rel")"
  cp -a "$dir" "$OPT.new/$rel"
done
rm -rf "$OPT.new/node_modules/netlink/build/Release/obj.target" "$OPT"
# cp -a kept the checkout's owner and modes: a user who owns the checkout
# must not own (and so be able to change) code that runs as root
if [ "$(id -u)" = 0 ]; then chown -R -h 0:0 "$OPT.new"; fi
find "$OPT.new" -type d -exec chmod 755 {} +
find "$OPT.new" -type f -perm /111 -exec chmod 755 {} +
find "$OPT.new" -type f ! -perm /111 -exec chmod 644 {} +
mv "$OPT.new" "$OPT"

# 2. the command, the unit, the drop-ins
mkdir -p "$(dirname "$BIN")" "$(dirname "$UNIT")" "$(dirname "$NETWORKD")" "$(dirname "$NM")"
# main.js runs through its shebang (it carries the agent's V8 flags); PATH finds this node
printf '#!/bin/sh\n# edge-overlay (installed by scripts/install.sh)\nPATH=%s:$PATH exec /opt/edge-overlay/dist/src/main.js "$@"\n' "$(dirname "$NODE")" > "$BIN"
chmod 755 "$BIN"
install -m 644 systemd/edge-overlay.service "$UNIT"
install -m 644 systemd/10-edge-overlay-unmanaged.network "$NETWORKD"
install -m 644 systemd/edge-overlay-unmanaged.conf "$NM"
if [ "$(id -u)" = 0 ]; then chown 0:0 "$BIN" "$UNIT" "$NETWORKD" "$NM"; fi

# 3. configuration and key, only where none exist
if [ "$FILES_ONLY" = 0 ]; then
  sh scripts/configure.sh "$ETC" "$SRC" "'$NODE' '$SRC/dist/src/main.js' keygen" "$IFACE" "$KEYFILE"
fi

if live_systemd; then
  systemctl daemon-reload
  if [ "$START" = 1 ]; then systemctl enable --now edge-overlay.service; fi
fi
echo "edge-overlay installed in ${DESTDIR:-/}"
