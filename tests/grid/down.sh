#!/bin/bash
# Tear the local grid down: remove its containers and its network.
# Reads: GWMS_GRID_* variables (see lib.sh). Exit status: 0 on success.
# The image stays (it is a cache; remove it with `podman rmi` if wanted).
set -Eeuo pipefail

# shellcheck source=tests/grid/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  local host name
  for host in ${GRID_HOSTS}; do
    name="${GRID_PREFIX}${host}"
    if podman container exists "${name}"; then
      gwms_grid::log "removing ${name}"
      podman rm --force --time 2 "${name}" >/dev/null
    fi
  done
  if podman network exists "${GRID_NETWORK}"; then
    gwms_grid::log "removing network ${GRID_NETWORK}"
    podman network rm "${GRID_NETWORK}" >/dev/null
  fi
}

main "$@"
