#!/bin/bash
# Start the local grid: one user-defined podman network and one container per host
# (cm, submit, execute, ce, slurm by default), each running systemd as PID 1 from the
# image built by build-image.sh (built first if missing). Idempotent: running
# containers are left alone. No port is published on the host.
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
  local host="$1" image="$2"
  local name="${GRID_PREFIX}${host}"
  if podman container exists "${name}"; then
    local state
    state="$(podman container inspect --format '{{.State.Status}}' "${name}")"
    if [[ ${state} == running ]]; then
      gwms_grid::log "${name} already running"
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
  gwms_grid::log "starting ${name} (hostname ${host}.${GRID_DOMAIN})"
  podman run --detach --name "${name}" --hostname "${host}.${GRID_DOMAIN}" \
    --network "${GRID_NETWORK}" --network-alias "${host}" \
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

main() {
  [[ ${EUID} -eq 0 ]] || gwms_grid::die "run as root (rootful podman)"
  local image host
  image="$("${GRID_DIR}/build-image.sh")"
  if ! podman network exists "${GRID_NETWORK}"; then
    gwms_grid::log "creating network ${GRID_NETWORK}"
    podman network create --label gwms.grid=1 "${GRID_NETWORK}" >/dev/null
  fi
  for host in ${GRID_HOSTS}; do
    gwms_grid::start_host "${host}" "${image}"
  done
  for host in ${GRID_HOSTS}; do
    gwms_grid::wait_booted "${host}"
  done
  gwms_grid::log "grid up: $(for host in ${GRID_HOSTS}; do printf '%s%s ' "${GRID_PREFIX}" "${host}"; done)"
}

main "$@"
