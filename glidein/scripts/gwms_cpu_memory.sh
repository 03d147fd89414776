#!/bin/bash
# gwms_cpu_memory.sh - built-in setup script (factory level): size the glidein's slot.
#
# Reads:      GLIDEIN_CPUS   "auto"/"node" (default) or a number of CPUs
#             GLIDEIN_MEMORY "auto"/"node" (default) or MiB
#             GLIDEIN_MEMORY_RESERVE MiB kept for the glidein itself when auto (default 0)
#             /proc/meminfo, nproc, cgroup v1/v2 limits of this process
# Advertises: GLIDEIN_CPUS, GLIDEIN_MEMORY (the slot size), GLIDEIN_CPUS_DETECTED,
#             GLIDEIN_MEMORY_DETECTED, GLIDEIN_CPUS_CGROUP / GLIDEIN_MEMORY_CGROUP (when
#             a cgroup limit exists)
# Exit codes: 0 ok; 1 the node offers less than configured (cgroup limit below the
#             configured size) or no memory at all; 2 bad configuration or script error
set -Eeuo pipefail

# shellcheck source=glidein/lib/attrs.sh
source "${GWMS_LIB_DIR}/attrs.sh"
# shellcheck source=glidein/lib/log.sh
source "${GWMS_LIB_DIR}/log.sh"
# shellcheck source=glidein/lib/detect.sh
source "${GWMS_LIB_DIR}/detect.sh"

main() {
  local want_cpus want_mem reserve node_cpus node_mem cg_cpus='' cg_mem='' det_cpus det_mem
  local cpus mem
  want_cpus=$(gwms_attr_default GLIDEIN_CPUS auto)
  want_mem=$(gwms_attr_default GLIDEIN_MEMORY auto)
  reserve=$(gwms_attr_default GLIDEIN_MEMORY_RESERVE 0)
  node_cpus=$(gwms_detect_nproc)
  node_mem=$(gwms_detect_mem_total_mb) || {
    printf 'cannot read MemTotal from /proc/meminfo\n'
    return 2
  }
  det_cpus=$node_cpus
  det_mem=$node_mem
  if cg_cpus=$(gwms_detect_cgroup_cpus); then
    ((cg_cpus < det_cpus)) && det_cpus=$cg_cpus
    gwms_attr_set GLIDEIN_CPUS_CGROUP "$cg_cpus"
  fi
  if cg_mem=$(gwms_detect_cgroup_mem_mb); then
    ((cg_mem < det_mem)) && det_mem=$cg_mem
    gwms_attr_set GLIDEIN_MEMORY_CGROUP "$cg_mem"
  fi
  if ! cpus=$(gwms_detect_resolve "$want_cpus" "$det_cpus"); then
    printf 'GLIDEIN_CPUS=%s: expected auto, node or a number\n' "$want_cpus"
    return 2
  fi
  if [[ ${want_mem,,} == auto || ${want_mem,,} == node ]]; then
    det_mem=$((det_mem - reserve))
  fi
  if ! mem=$(gwms_detect_resolve "$want_mem" "$det_mem"); then
    printf 'GLIDEIN_MEMORY=%s: expected auto, node or MiB\n' "$want_mem"
    return 2
  fi
  gwms_attr_set GLIDEIN_CPUS_DETECTED "$node_cpus"
  gwms_attr_set GLIDEIN_MEMORY_DETECTED "$node_mem"
  if ((cpus < 1 || mem < 1)); then
    printf 'no usable resources: %s CPUs, %s MiB\n' "$cpus" "$mem"
    return 1
  fi
  if [[ -n $cg_cpus ]] && ((cpus > cg_cpus)); then
    printf 'configured %s CPUs but the cgroup allows %s\n' "$cpus" "$cg_cpus"
    return 1
  fi
  if [[ -n $cg_mem ]] && ((mem > cg_mem)); then
    printf 'configured %s MiB but the cgroup allows %s MiB\n' "$mem" "$cg_mem"
    return 1
  fi
  gwms_attr_set GLIDEIN_CPUS "$cpus"
  gwms_attr_set GLIDEIN_MEMORY "$mem"
  gwms_log info "slot size ${cpus} CPUs, ${mem} MiB (node ${node_cpus} CPUs, ${node_mem} MiB; cgroup ${cg_cpus:-none} CPUs, ${cg_mem:-none} MiB)"
}

main "$@"
