#!/bin/bash
# gwms_disk.sh - built-in setup script (factory level): free space of the work directory.
#
# Reads:      GWMS_WORK_DIR; GLIDEIN_MIN_DISK_MB minimum free MiB (default 2048)
# Advertises: GLIDEIN_DISK_FREE_MB
# Exit codes: 0 ok; 1 less free space than the minimum; 2 df failed or bad configuration
set -Eeuo pipefail

# shellcheck source=glidein/lib/attrs.sh
source "${GWMS_LIB_DIR}/attrs.sh"

main() {
  local min free line
  min=$(gwms_attr_default GLIDEIN_MIN_DISK_MB 2048)
  [[ $min =~ ^[0-9]+$ ]] || { printf 'GLIDEIN_MIN_DISK_MB=%s is not a number\n' "$min"; return 2; }
  line=$(df -Pk "$GWMS_WORK_DIR" | tail -n 1) || { printf 'df failed\n'; return 2; }
  read -r _ _ _ free _ <<<"$line"
  [[ $free =~ ^[0-9]+$ ]] || { printf 'cannot parse df output: %s\n' "$line"; return 2; }
  free=$((free / 1024))
  gwms_attr_set GLIDEIN_DISK_FREE_MB "$free"
  if ((free < min)); then
    printf '%s MiB free in %s, %s MiB required\n' "$free" "$GWMS_WORK_DIR" "$min"
    return 1
  fi
}

main "$@"
