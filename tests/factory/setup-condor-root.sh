#!/bin/bash
# Build a Debian 13 (trixie) root with HTCondor 23.9 for the factory's real-daemon tests.
#
# Reads:   GWMS_FACTORY_ROOT (default /var/tmp/gwms-factory-root), the Debian archive.
# Writes:  that directory (debootstrap minbase + condor + python3-htcondor).
# Exit:    0 when the root is ready (idempotent: an existing ready root is reused),
#          1 on failure, 2 when not run as root.
set -Eeuo pipefail

readonly ROOT="${GWMS_FACTORY_ROOT:-/var/tmp/gwms-factory-root}"
readonly MIRROR="${GWMS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly STAMP="${ROOT}/.gwms-factory-ready"
readonly PACKAGES="condor python3-pytest python3-hypothesis python3-yaml python3-jsonschema \
python3-pluggy procps slurmctld slurmd slurm-client munge"

main() {
  if [[ "$(id -u)" != 0 ]]; then
    printf 'setup-condor-root: must run as root (debootstrap, chroot)\n' >&2
    exit 2
  fi
  if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${PACKAGES}" ]]; then
    printf 'setup-condor-root: %s ready\n' "${ROOT}"
    return 0
  fi
  if [[ ! -x "${ROOT}/usr/bin/apt-get" ]]; then
    rm -rf "${ROOT}"
    debootstrap --variant=minbase trixie "${ROOT}" "${MIRROR}"
  fi
  cp /etc/resolv.conf "${ROOT}/etc/resolv.conf"
  mountpoint -q "${ROOT}/proc" || mount -t proc proc "${ROOT}/proc"
  chroot "${ROOT}" apt-get update
  # shellcheck disable=SC2086  # PACKAGES is a word list on purpose
  DEBIAN_FRONTEND=noninteractive chroot "${ROOT}" apt-get install -y --no-install-recommends \
    ${PACKAGES}
  # The package's services must not start (there is no init in the root).
  umount "${ROOT}/proc" || true
  printf '%s' "${PACKAGES}" >"${STAMP}"
  printf 'setup-condor-root: %s ready\n' "${ROOT}"
}

main "$@"
