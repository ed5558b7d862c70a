#!/usr/bin/env bash
# Builds the Debian package of the current build (run `npm run build` first):
#   scripts/build-deb.sh [OUTDIR] [--version VERSION] [--fast]      (OUTDIR default: the repository root)
# It runs on a fresh Debian 12 / Ubuntu 22.04 / 24.04 with only the
# distribution's packages: it brings its own Node.js 20 runtime (the one that
# built the native addons, stripped; EDGE_OVERLAY_NODE names another) beside
# the one bundled program and the addons, all under /usr/lib/edge-overlay.
#   /usr/bin/edge-overlay -> /usr/lib/edge-overlay/edge-overlay.cjs
#   /usr/lib/systemd/system/edge-overlay.service, networkd/NetworkManager drop-ins
#   /usr/share/edge-overlay/ (config example, env file, configure.sh)
# Maintainer scripts: postinst writes config, cluster key and env file only
# where none exist, then starts the agent (fresh install) or restarts it
# (upgrade: hitless, the overlay stays up while it restarts); prerm on
# removal stops it and removes the overlay (`edge-overlay down`); postrm purge
# removes configuration, keys and state. Every file is root:root, writable by
# its owner only. --version overrides package.json's (e.g. for test upgrades);
# --fast compresses less (xz -1: 20 s instead of a minute, 26 MB instead of 22) for tests.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
OUT=.
VERSION=$(node -p "require('./package.json').version")
LEVEL=6
while [ $# -gt 0 ]; do
  case "$1" in
    --version) VERSION=$2; shift 2 ;;
    --fast) LEVEL=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-deb.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) OUT=$1; shift ;;
  esac
done
[[ "$VERSION" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || { echo "build-deb.sh: $VERSION is not a Debian version" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
for f in dist/edge-overlay.cjs dist/edge_overlay.node dist/netlink_binding.node; do
  [ -f "$f" ] || { echo "build-deb.sh: $f is missing; run: npm run build" >&2; exit 1; }
done
NODE_BIN=$(realpath "${EDGE_OVERLAY_NODE:-$(command -v node)}")
NODE_MAJOR=$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" = 20 ] || { echo "build-deb.sh: $NODE_BIN is Node $NODE_MAJOR; the package needs Node 20 (set EDGE_OVERLAY_NODE)" >&2; exit 1; }
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
chmod 755 "$STAGE" # the package's ./ (mktemp made it 0700)

LIB="$STAGE/usr/lib/edge-overlay"
SHARE="$STAGE/usr/share/edge-overlay"
DOC="$STAGE/usr/share/doc/edge-overlay"
mkdir -p "$LIB" "$SHARE" "$DOC" "$STAGE/usr/bin" "$STAGE/usr/lib/systemd/system" "$STAGE/usr/lib/systemd/network" "$STAGE/usr/lib/NetworkManager/conf.d"
# the runtime: debug symbols are 13 MB of its 99
strip --strip-unneeded -o "$LIB/node" "$NODE_BIN" 2>/dev/null || cp "$NODE_BIN" "$LIB/node"
# the program runs through its shebang (the agent's V8 flags), with the runtime beside it
sed '1s|^#!/usr/bin/env -S node |#!/usr/bin/env -S /usr/lib/edge-overlay/node |' dist/edge-overlay.cjs > "$LIB/edge-overlay.cjs"
head -1 "$LIB/edge-overlay.cjs" | grep -q '^#!/usr/bin/env -S /usr/lib/edge-overlay/node ' \
  || { echo "build-deb.sh: dist/edge-overlay.cjs does not start with the expected shebang" >&2; exit 1; }
install -m 644 dist/edge_overlay.node dist/netlink_binding.node "$LIB/"
chmod 755 "$LIB/node" "$LIB/edge-overlay.cjs"
ln -s ../lib/edge-overlay/edge-overlay.cjs "$STAGE/usr/bin/edge-overlay"
install -m 644 systemd/edge-overlay.service "$STAGE/usr/lib/systemd/system/"
install -m 644 systemd/10-edge-overlay-unmanaged.network "$STAGE/usr/lib/systemd/network/"
install -m 644 systemd/edge-overlay-unmanaged.conf "$STAGE/usr/lib/NetworkManager/conf.d/"
install -m 644 systemd/config.example.yaml systemd/edge-overlay.env "$SHARE/"
install -m 755 scripts/configure.sh "$SHARE/"
install -m 644 README.md "$DOC/"
gzip -9n -c "$("$NODE_BIN" -p 'require("path").join(process.execPath, "../../share/doc/nodejs/LICENSE")' 2>/dev/null)" > "$DOC/node-LICENSE.gz" 2>/dev/null \
  || rm -f "$DOC/node-LICENSE.gz"

mkdir -p "$STAGE/DEBIAN"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: edge-overlay
Version: $VERSION
Architecture: $ARCH
Maintainer: edge-overlay maintainers <edge-overlay@example.invalid>
Depends: nftables, iproute2, libc6 (>= 2.28), libstdc++6 (>= 11), libgcc-s1
Installed-Size: $SIZE
Section: net
Priority: optional
Description: VXLAN overlay with stable overlay IPs for edge Kubernetes hosts
 Builds the bridge scbr-100 and a VXLAN device, finds the other hosts of
 its cluster by signed L2 broadcast, gives every host an overlay IP that
 survives DHCP renumbering, and rewrites the VXLAN FDB at once when a
 host's physical address changes. Brings its own Node.js 20 runtime.
CONTROL
cat > "$STAGE/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  sh /usr/share/edge-overlay/configure.sh /etc/edge-overlay /usr/share/edge-overlay "/usr/bin/edge-overlay keygen"
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if [ -z "$2" ]; then
      # fresh install: the agent copes with a NIC that has no address yet, so do not wait for READY
      systemctl enable edge-overlay.service >/dev/null
      systemctl start --no-block edge-overlay.service
    else
      # upgrade from $2: restart only if it runs; the overlay stays up meanwhile
      systemctl try-restart --no-block edge-overlay.service
    fi
  fi
fi
POSTINST
cat > "$STAGE/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
# upgrade: nothing (the running agent is restarted by the new postinst)
if [ "$1" = remove ]; then
  if [ -d /run/systemd/system ]; then systemctl disable --now edge-overlay.service >/dev/null 2>&1 || true; fi
  # nothing maintains the overlay any more: remove the bridge, the VXLAN device and our nft tables
  /usr/bin/edge-overlay down || echo "edge-overlay: could not remove the overlay devices; run: edge-overlay down" >&2
fi
PRERM
cat > "$STAGE/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /etc/edge-overlay /var/lib/edge-overlay /run/edge-overlay
fi
if [ -d /run/systemd/system ] && { [ "$1" = remove ] || [ "$1" = purge ]; }; then systemctl daemon-reload || true; fi
POSTRM
chmod 755 "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/prerm" "$STAGE/DEBIAN/postrm"
DEB="$OUT/edge-overlay_${VERSION}_${ARCH}.deb"
dpkg-deb -Zxz -z"$LEVEL" --threads-max="$(nproc)" --root-owner-group --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
