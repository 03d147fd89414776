#!/bin/bash
# gwms_gpu.sh - built-in setup script (factory level): GPU discovery.
#
# Reads:      GLIDEIN_GPUS  "auto" (default), "0" to skip, or a number to require
#             GWMS_CONDOR_LIBEXEC / PATH: condor_gpu_discovery (only run when present
#             and a GPU device node exists: /dev/nvidia[0-9]*, /dev/kfd, or GPUs required)
# Advertises: GLIDEIN_GPUS (count), GLIDEIN_GPU_IDS (DetectedGPUs), GLIDEIN_GPU_DISCOVERY
#             (ran|absent|no-devices|skipped)
# Exit codes: 0 ok; 1 fewer GPUs than a configured number; 2 script error
set -Eeuo pipefail

# shellcheck source=glidein/lib/attrs.sh
source "${GWMS_LIB_DIR}/attrs.sh"
# shellcheck source=glidein/lib/log.sh
source "${GWMS_LIB_DIR}/log.sh"

# count_gpus PROPERTIES_OUTPUT: print the number of ids in DetectedGPUs="a, b" (or =N)
count_gpus() {
  local line ids
  while IFS= read -r line; do
    if [[ $line =~ ^DetectedGPUs[[:space:]]*=[[:space:]]*\"(.*)\"$ ]]; then
      ids=${BASH_REMATCH[1]//[[:space:]]/}
      [[ -z $ids ]] && { printf '0 '; return 0; }
      local -a list
      IFS=, read -r -a list <<<"$ids"
      printf '%d %s' "${#list[@]}" "$ids"
      return 0
    elif [[ $line =~ ^DetectedGPUs[[:space:]]*=[[:space:]]*([0-9]+)$ ]]; then
      printf '%d ' "${BASH_REMATCH[1]}"
      return 0
    fi
  done <<<"$1"
  printf '0 '
}

main() {
  local want tool='' out count ids devices=0 dev
  want=$(gwms_attr_default GLIDEIN_GPUS auto)
  if [[ $want == 0 ]]; then
    gwms_attr_set GLIDEIN_GPU_DISCOVERY skipped
    gwms_attr_set GLIDEIN_GPUS 0
    return 0
  fi
  for dev in /dev/nvidia[0-9]* /dev/kfd; do
    [[ -e $dev ]] && devices=1
  done
  for tool in "${GWMS_CONDOR_LIBEXEC:-}/condor_gpu_discovery" "$(command -v condor_gpu_discovery || true)" \
    /usr/libexec/condor/condor_gpu_discovery; do
    [[ -n $tool && -x $tool ]] && break
    tool=
  done
  if [[ -z $tool ]]; then
    gwms_attr_set GLIDEIN_GPU_DISCOVERY absent
    count=0
  elif ((devices == 0)) && [[ $want == auto ]]; then
    gwms_attr_set GLIDEIN_GPU_DISCOVERY no-devices
    count=0
  else
    out=$("$tool" -properties 2>&1) || {
      printf 'condor_gpu_discovery failed:\n%s\n' "$out"
      [[ $want == auto ]] && return 2
      return 1
    }
    printf '%s\n' "$out"
    read -r count ids <<<"$(count_gpus "$out")"
    gwms_attr_set GLIDEIN_GPU_DISCOVERY ran
    [[ -n ${ids:-} ]] && gwms_attr_set GLIDEIN_GPU_IDS "$ids"
  fi
  if [[ $want =~ ^[0-9]+$ ]] && ((count < want)); then
    printf 'configured %s GPUs, found %s\n' "$want" "$count"
    return 1
  fi
  [[ $want =~ ^[0-9]+$ ]] && count=$want
  gwms_attr_set GLIDEIN_GPUS "$count"
  gwms_log info "GPUs: ${count}"
}

main "$@"
