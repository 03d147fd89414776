# shellcheck shell=bash
# shellcheck disable=SC2034  # the settings are used by the scripts that source this file
# Shared settings for the local podman grid (sourced by build-image.sh, up.sh, down.sh).
# Defines functions and read-only settings only; sourcing it has no side effects
# except exporting CONTAINERS_CONF so every podman call uses the runc runtime.

GRID_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly GRID_DIR
GRID_REPO="$(cd "${GRID_DIR}/../.." && pwd)"
readonly GRID_REPO

# podman from Debian 12 works here only with runc (crun fails on this cgroup setup).
export CONTAINERS_CONF="${CONTAINERS_CONF:-${GRID_DIR}/containers.conf}"

# Everything can be overridden from the environment (e.g. to run two grids side by side).
readonly GRID_IMAGE_REPO="${GWMS_GRID_IMAGE_REPO:-localhost/gwms-grid}"
readonly GRID_NETWORK="${GWMS_GRID_NETWORK:-gwms-grid}"
readonly GRID_PREFIX="${GWMS_GRID_PREFIX:-gwms-}"
# Hostnames of the grid; container names are "${GRID_PREFIX}${host}".
readonly GRID_HOSTS="${GWMS_GRID_HOSTS:-cm submit execute ce slurm}"
# Containers get fully qualified hostnames in the DNS domain of podman's network
# (aardvark-dns answers "cm" with "cm.dns.podman"), so HTCondor's idea of its own name
# matches what clients resolve: "grid_resource = condor ce ce" finds schedd ce.dns.podman.
readonly GRID_DOMAIN="${GWMS_GRID_DOMAIN:-dns.podman}"
readonly GRID_SUITE="${GWMS_GRID_SUITE:-trixie}"
readonly GRID_MIRROR="${GWMS_GRID_MIRROR:-http://deb.debian.org/debian}"
# Fixed last octet of each host's address in the network's subnet (up.sh starts every
# container with --ip, so an address survives `podman restart` and up.sh re-runs:
# HTCondor daemons resolve the central manager once and keep that address). Hosts not
# named here get 100 + (cksum of the name mod 150).
readonly GRID_HOST_OCTETS="${GWMS_GRID_HOST_OCTETS:-cm=10 submit=11 execute=12 ce=13 slurm=14}"

gwms_grid::log() {
  printf '[grid %(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

gwms_grid::die() {
  gwms_grid::log "ERROR: $*"
  exit 1
}

# The image tag is a hash of everything that defines the image (the recipe), so an
# image is rebuilt only when the recipe changes.
gwms_grid::recipe_hash() {
  local hash
  hash="$(cd "${GRID_DIR}" && cat build-image.sh image/* \
    | { cat; printf '%s\n' "${GRID_SUITE}"; } | sha256sum)"
  printf '%s\n' "${hash:0:16}"
}

gwms_grid::image() {
  local hash
  hash="$(gwms_grid::recipe_hash)"
  printf '%s:%s\n' "${GRID_IMAGE_REPO}" "${hash}"
}

# The last octet of HOST's fixed address (see GRID_HOST_OCTETS).
gwms_grid::host_octet() {
  local host="$1" pair sum
  for pair in ${GRID_HOST_OCTETS}; do
    if [[ ${pair%%=*} == "${host}" ]]; then
      printf '%s\n' "${pair#*=}"
      return 0
    fi
  done
  sum="$(printf '%s' "${host}" | cksum)"
  printf '%s\n' "$((100 + ${sum%% *} % 150))"
}

# The IPv4 subnet of the grid's network (e.g. 10.89.3.0/24), empty if it has none.
gwms_grid::subnet() {
  podman network inspect --format '{{range .Subnets}}{{.Subnet}}{{"\n"}}{{end}}' \
    "${GRID_NETWORK}" | grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/' || true
}

# HOST's fixed address in SUBNET (a /24 or larger IPv4 subnet): its first three octets
# and the host's octet.
gwms_grid::host_ip() {
  local host="$1" subnet="$2" net bits
  net="${subnet%/*}"
  bits="${subnet#*/}"
  ((bits <= 24)) || gwms_grid::die "network ${GRID_NETWORK}: subnet ${subnet} is smaller than a /24"
  printf '%s.%s\n' "${net%.*}" "$(gwms_grid::host_octet "${host}")"
}

# The address a container has on the grid's network (empty if none).
gwms_grid::container_ip() {
  podman container inspect --format \
    "{{with index .NetworkSettings.Networks \"${GRID_NETWORK}\"}}{{.IPAddress}}{{end}}" "$1" \
    2>/dev/null || true
}
