#!/bin/bash
# Build the local grid's container image: a Debian 13 (trixie) root made with debootstrap,
# with systemd, python3, HTCondor (Debian's condor 23.9.x), Slurm and munge, imported
# into podman as ${GWMS_GRID_IMAGE_REPO:-localhost/gwms-grid}:<hash of the recipe>.
#
# Reads: tests/grid/image/* (the recipe), tests/grid/containers.conf.
# Installs host prerequisites with apt-get when they are missing (needs root).
# Skips the build when an image with the recipe's tag already exists (--force rebuilds).
# Prints the image name on stdout. Exit status: 0 on success, 1 on any failure.
set -Eeuo pipefail

# shellcheck source=tests/grid/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly BUILD_LOG="${GWMS_GRID_BUILD_LOG:-/var/tmp/gwms-grid-build.log}"
readonly HOST_PACKAGES=(podman runc netavark aardvark-dns slirp4netns uidmap
  fuse-overlayfs iptables debootstrap ca-certificates)

gwms_grid::install_prereqs() {
  local pkg
  local -a missing=()
  for pkg in "${HOST_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}\n' "${pkg}" 2>/dev/null | grep -q 'ok installed' \
      || missing+=("${pkg}")
  done
  if ((${#missing[@]} > 0)); then
    gwms_grid::log "installing host packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

gwms_grid::umount_root() {
  local root="$1" mnt
  for mnt in dev/pts dev sys proc; do
    if mountpoint -q "${root}/${mnt}"; then
      umount -l "${root}/${mnt}" || true
    fi
  done
}

gwms_grid::build_root() {
  local root="$1"
  gwms_grid::log "debootstrap ${GRID_SUITE} into ${root}"
  debootstrap --variant=minbase "${GRID_SUITE}" "${root}" "${GRID_MIRROR}" >>"${BUILD_LOG}" 2>&1
  mkdir -p "${root}/tmp/gwms-image"
  cp "${GRID_DIR}"/image/* "${root}/tmp/gwms-image/"
  cp /etc/resolv.conf "${root}/etc/resolv.conf"
  mount -t proc proc "${root}/proc"
  mount -t sysfs sysfs "${root}/sys"
  mount --bind /dev "${root}/dev"
  mount --bind /dev/pts "${root}/dev/pts"
  gwms_grid::log "installing packages into the root"
  GWMS_MIRROR="${GRID_MIRROR}" chroot "${root}" /bin/bash /tmp/gwms-image/setup-root.sh \
    >>"${BUILD_LOG}" 2>&1
  gwms_grid::umount_root "${root}"
  : > "${root}/etc/resolv.conf"
}

main() {
  local force=0 arg
  for arg in "$@"; do
    case "${arg}" in
      --force) force=1 ;;
      -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
      *) gwms_grid::die "unknown argument: ${arg}" ;;
    esac
  done
  [[ ${EUID} -eq 0 ]] || gwms_grid::die "run as root (rootful podman, debootstrap)"

  local start=${SECONDS}
  gwms_grid::install_prereqs
  local image
  image="$(gwms_grid::image)"
  if ((force == 0)) && podman image exists "${image}"; then
    gwms_grid::log "image ${image} is up to date (cached); skipping the build"
    podman tag "${image}" "${GRID_IMAGE_REPO}:latest"
    printf '%s\n' "${image}"
    return 0
  fi

  local root
  root="$(mktemp -d /var/tmp/gwms-grid-root.XXXXXX)"
  # mktemp makes it 0700: package scripts that run as other users (munge) need 0755.
  chmod 0755 "${root}"
  # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
  trap "gwms_grid::umount_root '${root}'; rm -rf --one-file-system '${root}'" EXIT
  : > "${BUILD_LOG}"
  gwms_grid::log "building (details in ${BUILD_LOG})"
  if ! gwms_grid::build_root "${root}"; then
    tail -n 40 "${BUILD_LOG}" >&2
    gwms_grid::die "image build failed; see ${BUILD_LOG}"
  fi

  gwms_grid::log "importing the root as ${image}"
  tar -C "${root}" --numeric-owner -cf - . \
    | podman import \
      --change 'CMD ["/sbin/init"]' \
      --change 'ENV container=podman' \
      --change 'STOPSIGNAL SIGRTMIN+3' \
      --message "gwms grid image, recipe $(gwms_grid::recipe_hash)" \
      - "${image}" >&2
  podman tag "${image}" "${GRID_IMAGE_REPO}:latest"
  gwms_grid::log "built ${image} in $((SECONDS - start))s"
  printf '%s\n' "${image}"
}

main "$@"
