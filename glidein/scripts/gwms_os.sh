#!/bin/bash
# gwms_os.sh - built-in setup script (factory level): operating system facts and checks.
#
# Reads:      /etc/os-release, uname; GLIDEIN_REQUIRED_OS (optional, space-separated
#             list of "<ID><VERSION_ID major>" values, e.g. "debian13 rhel9")
# Advertises: GLIDEIN_OS_ID, GLIDEIN_OS_VERSION, GLIDEIN_OS (ID+major, e.g. debian13),
#             GLIDEIN_KERNEL, GLIDEIN_ARCH
# Exit codes: 0 ok; 1 OS not in GLIDEIN_REQUIRED_OS, or /tmp and the work dir not
#             writable; 2 script error
set -Eeuo pipefail

# shellcheck source=glidein/lib/attrs.sh
source "${GWMS_LIB_DIR}/attrs.sh"

main() {
  local id=unknown version=0 major required os line
  if [[ -r /etc/os-release ]]; then
    while IFS= read -r line; do
      case $line in
        ID=*) id=${line#ID=} ;;
        VERSION_ID=*) version=${line#VERSION_ID=} ;;
      esac
    done </etc/os-release
  fi
  id=${id//\"/}
  version=${version//\"/}
  major=${version%%.*}
  os=${id}${major}
  gwms_attr_set GLIDEIN_OS_ID "$id"
  gwms_attr_set GLIDEIN_OS_VERSION "$version"
  gwms_attr_set GLIDEIN_OS "$os"
  gwms_attr_set GLIDEIN_KERNEL "$(uname -r)"
  gwms_attr_set GLIDEIN_ARCH "$(uname -m)"
  if [[ ! -w $GWMS_WORK_DIR ]]; then
    printf 'work directory %s is not writable\n' "$GWMS_WORK_DIR"
    return 1
  fi
  required=$(gwms_attr_default GLIDEIN_REQUIRED_OS '')
  if [[ -n $required && " ${required} " != *" ${os} "* ]]; then
    printf 'operating system %s is not one of: %s\n' "$os" "$required"
    return 1
  fi
}

main "$@"
