#!/usr/bin/env bash
# Builds a Debian package of the current build with dpkg-deb:
#   scripts/build-deb.sh [OUTDIR]      (default: the repository root)
# The package holds what scripts/install.sh --files-only installs; its
# postinst writes a default config and a fresh cluster key only where none
# exist, then enables the service. It needs Node.js 20 on the host (Debian's
# own nodejs is older, so it is not a dependency) and depends on nftables
# (the agent does not report READY without its VXLAN ingress filter) and
# iproute2. Every file in it is root:root, writable by its owner only.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
OUT=$(realpath "${1:-.}")
VERSION=$(node -p "require('./package.json').version")
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
chmod 755 "$STAGE" # the package's ./ (mktemp made it 0700)

bash scripts/install.sh --destdir "$STAGE" --files-only --no-start >/dev/null
mkdir -p "$STAGE/DEBIAN"
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: edge-overlay
Version: $VERSION
Architecture: $ARCH
Maintainer: edge-overlay maintainers <edge-overlay@example.invalid>
Depends: nftables, iproute2
Section: net
Priority: optional
Description: VXLAN overlay with stable overlay IPs for edge Kubernetes hosts
 Builds the bridge scbr-100 and a VXLAN device, finds the other hosts of
 its cluster by signed L2 broadcast, gives every host an overlay IP that
 survives DHCP renumbering, and rewrites the VXLAN FDB at once when a
 host's physical address changes. Requires Node.js 20 on PATH.
CONTROL
cat > "$STAGE/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  sh /opt/edge-overlay/scripts/configure.sh /etc/edge-overlay /opt/edge-overlay "/usr/local/bin/edge-overlay keygen"
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable edge-overlay.service >/dev/null
  fi
fi
POSTINST
cat > "$STAGE/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl disable --now edge-overlay.service >/dev/null 2>&1 || true
fi
PRERM
cat > "$STAGE/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /etc/edge-overlay /var/lib/edge-overlay
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
POSTRM
chmod 755 "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/prerm" "$STAGE/DEBIAN/postrm"
DEB="$OUT/edge-overlay_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
