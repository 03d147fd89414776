#!/bin/bash
# Start the local grid: one user-defined podman network and one container per host
# (cm, submit, execute, ce, slurm by default), each running systemd as PID 1 from the
# image built by build-image.sh (built first if missing). Idempotent: running
# containers are left alone. No port is published on the host.
#
# Every host gets a fixed address in its network's subnet (podman picks a free subnet
# when it creates the network; the last octet comes from GRID_HOST_OCTETS in lib.sh), so
# `podman restart` and a re-run keep it: HTCondor daemons resolve the central manager's
# name once, and a new address would cut the other hosts off until condor is restarted.
#
# Reads: GWMS_GRID_* variables (see lib.sh). Exit status: 0 when every host's systemd
# has finished booting, 1 otherwise.
set -Eeuo pipefail

# shellcheck source=tests/grid/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly BOOT_TIMEOUT="${GWMS_GRID_BOOT_TIMEOUT:-120}"

gwms_grid::min() {
  local a="$1" b="$2"
  [[ ${a} == unlimited ]] && a="${b}"
  if ((a < b)); then printf '%s\n' "${a}"; else printf '%s\n' "${b}"; fi
}

gwms_grid::start_host() {
  local host="$1" image="$2" subnet="$3"
  local name="${GRID_PREFIX}${host}" ip
  ip="$(gwms_grid::host_ip "${host}" "${subnet}")"
  if podman container exists "${name}"; then
    local state have
    state="$(podman container inspect --format '{{.State.Status}}' "${name}")"
    if [[ ${state} == running ]]; then
      have="$(gwms_grid::container_ip "${name}")"
      if [[ ${have} == "${ip}" ]]; then
        gwms_grid::log "${name} already running (${ip})"
      else
        # Made before addresses were fixed: it works, but `podman restart` may move it.
        gwms_grid::log "WARNING: ${name} runs at ${have:-no address}, not ${ip}; down.sh + up.sh gives it a fixed address"
      fi
      return 0
    fi
    gwms_grid::log "removing stopped ${name}"
    podman rm -f "${name}" >/dev/null
  fi
  # podman's default limits exceed this host's hard limits (runc then fails with
  # "error setting rlimit"; nproc 65536 failed even under a hard limit of 96365):
  # ask for modest limits, never above our own hard limits.
  local nofile nproc
  nofile="$(gwms_grid::min "$(ulimit -Hn)" 16384)"
  nproc="$(gwms_grid::min "$(ulimit -Hu)" 32768)"
  gwms_grid::log "starting ${name} (hostname ${host}.${GRID_DOMAIN}, ${ip})"
  podman run --detach --name "${name}" --hostname "${host}.${GRID_DOMAIN}" \
    --network "${GRID_NETWORK}" --network-alias "${host}" --ip "${ip}" \
    --systemd=always --privileged \
    --ulimit "nofile=${nofile}:${nofile}" --ulimit "nproc=${nproc}:${nproc}" \
    --label gwms.grid=1 \
    --tmpfs /tmp --tmpfs /run --tmpfs /run/lock \
    "${image}" /sbin/init >/dev/null
}

gwms_grid::wait_booted() {
  local host="$1" state=""
  local name="${GRID_PREFIX}${host}"
  local deadline=$((SECONDS + BOOT_TIMEOUT))
  while ((SECONDS < deadline)); do
    state="$(podman exec "${name}" systemctl is-system-running 2>/dev/null || true)"
    case "${state}" in
      running | degraded) return 0 ;;
    esac
    sleep 1
  done
  gwms_grid::log "${name}: systemd did not finish booting (state: ${state:-unknown})"
  podman exec "${name}" systemctl --failed --no-pager >&2 || true
  return 1
}

# Two hosts of the grid must not share a last octet (a clash in GRID_HOST_OCTETS or of
# two names' checksums): fail before anything starts.
gwms_grid::check_octets() {
  local host octet seen=" "
  for host in ${GRID_HOSTS}; do
    octet="$(gwms_grid::host_octet "${host}")"
    ((octet >= 2 && octet <= 254)) || gwms_grid::die "${host}: address octet ${octet} out of 2..254"
    [[ ${seen} != *" ${octet} "* ]] || gwms_grid::die "${host}: address octet ${octet} already taken (GWMS_GRID_HOST_OCTETS)"
    seen+="${octet} "
  done
}

main() {
  [[ ${EUID} -eq 0 ]] || gwms_grid::die "run as root (rootful podman)"
  local image host subnet
  gwms_grid::check_octets
  image="$("${GRID_DIR}/build-image.sh")"
  if ! podman network exists "${GRID_NETWORK}"; then
    # podman picks a subnet no other network uses (10.89.N.0/24 by default), so
    # several grids coexist; the hosts' addresses are fixed inside it.
    gwms_grid::log "creating network ${GRID_NETWORK}"
    podman network create --label gwms.grid=1 "${GRID_NETWORK}" >/dev/null
  fi
  subnet="$(gwms_grid::subnet)"
  [[ -n ${subnet} ]] || gwms_grid::die "network ${GRID_NETWORK} has no IPv4 subnet"
  gwms_grid::log "network ${GRID_NETWORK}: ${subnet}"
  for host in ${GRID_HOSTS}; do
    gwms_grid::start_host "${host}" "${image}" "${subnet}"
  done
  for host in ${GRID_HOSTS}; do
    gwms_grid::wait_booted "${host}"
  done
  gwms_grid::log "grid up: $(for host in ${GRID_HOSTS}; do printf '%s%s ' "${GRID_PREFIX}" "${host}"; done)"
}

main "$@"
