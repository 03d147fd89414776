#!/bin/bash
# Build a Debian 13 (trixie) root with HTCondor for the glidein's real-daemon tests.
#
# Reads:   GWMS_GLIDEIN_ROOT (default /var/tmp/gwms-glidein-root), the Debian archive.
# Writes:  that directory: debootstrap minbase + condor + python3 + curl, plus two users:
#          gwmspool (uid 4721, runs the pool) and gwmsglide (uid 4722, runs glideins).
# Exit:    0 when the root is ready (an existing ready root is reused), 1 on failure,
#          2 when not run as root.
set -Eeuo pipefail

readonly ROOT="${GWMS_GLIDEIN_ROOT:-/var/tmp/gwms-glidein-root}"
readonly MIRROR="${GWMS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly STAMP="${ROOT}/.gwms-glidein-ready"

main() {
  if [[ $(id -u) != 0 ]]; then
    printf 'setup-condor-root: must run as root (debootstrap, chroot)\n' >&2
    exit 2
  fi
  if [[ -f ${STAMP} ]]; then
    printf 'setup-condor-root: %s ready\n' "${ROOT}"
    return 0
  fi
  if [[ ! -x ${ROOT}/usr/bin/apt-get ]]; then
    rm -rf "${ROOT}"
    debootstrap --variant=minbase trixie "${ROOT}" "${MIRROR}"
  fi
  cp /etc/resolv.conf "${ROOT}/etc/resolv.conf"
  mountpoint -q "${ROOT}/proc" || mount -t proc proc "${ROOT}/proc"
  chroot "${ROOT}" apt-get update
  DEBIAN_FRONTEND=noninteractive chroot "${ROOT}" apt-get install -y --no-install-recommends \
    condor python3 curl procps
  umount "${ROOT}/proc" || true
  chroot "${ROOT}" getent passwd gwmspool >/dev/null ||
    chroot "${ROOT}" useradd -u 4721 -m -s /bin/bash gwmspool
  chroot "${ROOT}" getent passwd gwmsglide >/dev/null ||
    chroot "${ROOT}" useradd -u 4722 -m -s /bin/bash gwmsglide
  touch "${STAMP}"
  printf 'setup-condor-root: %s ready\n' "${ROOT}"
}

main "$@"
