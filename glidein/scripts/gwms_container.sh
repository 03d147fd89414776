#!/bin/bash
# gwms_container.sh - built-in setup script (factory level): Apptainer/Singularity.
#
# Reads:      PATH (apptainer, then singularity), GLIDEIN_REQUIRE_CONTAINER (true/false,
#             default false), /proc/sys/user/max_user_namespaces
# Advertises: HAS_SINGULARITY (true/false), SINGULARITY_PATH, SINGULARITY_VERSION,
#             GLIDEIN_CONTAINER_RUNTIME (apptainer|singularity|none),
#             GLIDEIN_CONTAINER_MODE (privileged = setuid starter installed,
#             unprivileged = user namespaces available, unusable = neither)
# Exit codes: 0 ok; 1 a container runtime is required and none is usable; 2 script error
set -Eeuo pipefail

# shellcheck source=glidein/lib/attrs.sh
source "${GWMS_LIB_DIR}/attrs.sh"

main() {
  local tool='' name path version mode=unusable prefix userns=0 require
  require=$(gwms_attr_default GLIDEIN_REQUIRE_CONTAINER false)
  for name in apptainer singularity; do
    if path=$(command -v "$name" 2>/dev/null); then
      tool=$name
      break
    fi
  done
  if [[ -z $tool ]]; then
    gwms_attr_set HAS_SINGULARITY false
    gwms_attr_set GLIDEIN_CONTAINER_RUNTIME none
    gwms_attr_set GLIDEIN_CONTAINER_MODE unusable
    if [[ $require == true ]]; then
      printf 'no apptainer or singularity on PATH and GLIDEIN_REQUIRE_CONTAINER=true\n'
      return 1
    fi
    return 0
  fi
  version=$("$path" --version 2>/dev/null | head -n 1) || version=unknown
  prefix=${path%/bin/*}
  if [[ -u ${prefix}/libexec/${tool}/bin/starter-suid ]]; then
    mode=privileged
  elif [[ -r /proc/sys/user/max_user_namespaces ]] &&
    read -r userns </proc/sys/user/max_user_namespaces && ((userns > 0)); then
    mode=unprivileged
  fi
  gwms_attr_set HAS_SINGULARITY "$([[ $mode == unusable ]] && printf false || printf true)"
  gwms_attr_set SINGULARITY_PATH "$path"
  gwms_attr_set SINGULARITY_VERSION "$version"
  gwms_attr_set GLIDEIN_CONTAINER_RUNTIME "$tool"
  gwms_attr_set GLIDEIN_CONTAINER_MODE "$mode"
  if [[ $mode == unusable && $require == true ]]; then
    printf '%s found but neither setuid nor user namespaces are available\n' "$tool"
    return 1
  fi
}

main "$@"
