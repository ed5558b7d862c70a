#!/usr/bin/env bash
# Installs a built edge-overlay (run `npm run build` first) on this host, or
# under --destdir for packaging and tests. Idempotent: running it again
# updates the program and leaves configuration and keys alone.
#
#   scripts/install.sh [--destdir DIR] [--interface IF] [--key-file FILE] [--files-only] [--no-start]
#   scripts/install.sh --uninstall [--purge] [--destdir DIR]
#
# Puts the bundled program and its native addons under /opt/edge-overlay (run
# by this host's Node.js 20: the .deb brings its own), `edge-overlay` on PATH
# (/usr/local/bin), the systemd unit, the networkd/NetworkManager drop-ins
# that keep them off our devices, and — unless they exist — a default
# /etc/edge-overlay/config.yaml (with --interface, else the agent takes the
# default route's NIC) and a cluster key (0600; --key-file, else generated).
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

for f in dist/edge-overlay.cjs dist/edge_overlay.node dist/netlink_binding.node; do
  [ -f "$f" ] || { echo "install.sh: no build found ($f); run: npm run build" >&2; exit 1; }
done
NODE=$(command -v node) || { echo "install.sh: node (Node.js 20) is not on PATH" >&2; exit 1; }
NODE=$(realpath "$NODE")

# 1. the program: the bundle (its shebang names this node and carries the
# agent's V8 flags), the addons beside it, the examples configure.sh reads
rm -rf "$OPT.new" # never build on a leftover someone else may have filled
mkdir -p "$OPT.new"
sed "1s|^#!/usr/bin/env -S node |#!/usr/bin/env -S $NODE |" dist/edge-overlay.cjs > "$OPT.new/edge-overlay.cjs"
cp dist/edge_overlay.node dist/netlink_binding.node README.md systemd/config.example.yaml systemd/edge-overlay.env scripts/configure.sh "$OPT.new/"
rm -rf "$OPT"
# a user who owns the checkout must not own (and so be able to change) code that runs as root
if [ "$(id -u)" = 0 ]; then chown -R -h 0:0 "$OPT.new"; fi
chmod 755 "$OPT.new" "$OPT.new/edge-overlay.cjs" "$OPT.new/configure.sh"
find "$OPT.new" -type f ! -name edge-overlay.cjs ! -name configure.sh -exec chmod 644 {} +
mv "$OPT.new" "$OPT"

# 2. the command, the unit, the drop-ins
mkdir -p "$(dirname "$BIN")" "$(dirname "$UNIT")" "$(dirname "$NETWORKD")" "$(dirname "$NM")"
rm -f "$BIN"
ln -s /opt/edge-overlay/edge-overlay.cjs "$BIN"
sed -e 's|^ExecStart=/usr/bin/edge-overlay |ExecStart=/usr/local/bin/edge-overlay |' \
  -e 's|^Documentation=.*|Documentation=file:///opt/edge-overlay/README.md|' systemd/edge-overlay.service > "$UNIT"
chmod 644 "$UNIT"
install -m 644 systemd/10-edge-overlay-unmanaged.network "$NETWORKD"
install -m 644 systemd/edge-overlay-unmanaged.conf "$NM"
if [ "$(id -u)" = 0 ]; then chown -h 0:0 "$BIN" "$UNIT" "$NETWORKD" "$NM"; fi

# 3. configuration and key, only where none exist
if [ "$FILES_ONLY" = 0 ]; then
  sh scripts/configure.sh "$ETC" "$SRC/systemd" "'$NODE' '$SRC/dist/edge-overlay.cjs' keygen" "$IFACE" "$KEYFILE"
fi

if live_systemd; then
  systemctl daemon-reload
  if [ "$START" = 1 ]; then systemctl enable --now edge-overlay.service; fi
fi
echo "edge-overlay installed in ${DESTDIR:-/}"
