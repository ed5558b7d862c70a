#!/bin/sh
# Lab helper: a minimal dhclient-script for namespace hosts. It puts the
# leased address on $interface (and the default route), and appends
# "<ns-timestamp> bound|released <ip>" to $EO_LAB_EVENTS so benchmarks can
# measure from the moment the new address appears. If $EO_LAB_HOOK is set it
# runs "$EO_LAB_HOOK OLD NEW" right after (the benchmark's hand-run repair
# script). It never touches /etc/resolv.conf or anything outside the host's
# network namespace (the hook may). On TIMEOUT (no server answered) it
# refuses the old lease, so the client keeps asking instead of sitting on an
# address it never configured until the renewal time.
events="${EO_LAB_EVENTS:-/dev/null}"

mask2prefix() {
  n=0
  old_ifs=$IFS
  IFS=.
  for o in $1; do
    case $o in
      255) n=$((n + 8)) ;; 254) n=$((n + 7)) ;; 252) n=$((n + 6)) ;; 248) n=$((n + 5)) ;;
      240) n=$((n + 4)) ;; 224) n=$((n + 3)) ;; 192) n=$((n + 2)) ;; 128) n=$((n + 1)) ;;
    esac
  done
  IFS=$old_ifs
  echo "$n"
}

case "$reason" in
  PREINIT)
    ip link set dev "$interface" up
    ;;
  BOUND|RENEW|REBIND|REBOOT)
    prefix=$(mask2prefix "${new_subnet_mask:-255.255.255.0}")
    if ! ip -4 -o addr show dev "$interface" | grep -q " $new_ip_address/$prefix "; then
      previous=$(ip -4 -o addr show dev "$interface" | awk '{split($4, a, "/"); print a[1]; exit}')
      # the address a NAK/EXPIRE removed before this lease came in
      [ -n "$previous" ] || previous=$(cat "$events.last" 2>/dev/null || true)
      ip -4 addr flush dev "$interface"
      ip -4 addr add "$new_ip_address/$prefix" broadcast "${new_broadcast_address:-+}" dev "$interface"
      echo "$(date +%s%N) bound $new_ip_address" >> "$events"
      if [ -n "$EO_LAB_HOOK" ] && [ -n "$previous" ]; then "$EO_LAB_HOOK" "$previous" "$new_ip_address"; fi
    fi
    if [ -n "$new_routers" ]; then
      ip -4 route replace default via "${new_routers%% *}" dev "$interface"
    fi
    ;;
  TIMEOUT)
    exit 1
    ;;
  EXPIRE|FAIL|RELEASE|STOP)
    if [ -n "$old_ip_address" ]; then
      ip -4 addr flush dev "$interface"
      echo "$(date +%s%N) released $old_ip_address" >> "$events"
      [ "$events" = /dev/null ] || echo "$old_ip_address" > "$events.last"
    fi
    ;;
esac
exit 0
