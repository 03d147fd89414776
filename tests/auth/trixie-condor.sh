#!/bin/bash
# A Debian 13 (trixie) root with HTCondor (Debian's condor 23.9.x), used by the
# real-daemon auth tests (tests/auth/) to run a personal HTCondor pool under chroot.
# Debian 12 has no condor package and its libc is too old for trixie's binaries.
#
# Usage (as root):
#   trixie-condor.sh build     debootstrap + apt-get install condor (skipped when done)
#   trixie-condor.sh mount     mount /proc, /sys, /dev into the root (idempotent)
#   trixie-condor.sh umount    undo mount
#   trixie-condor.sh run CMD…  run CMD inside the root (mounts first)
#   trixie-condor.sh status    exit 0 when the root is built and runs condor_version
#   trixie-condor.sh path      print the root's path
#
# Reads: GWMS_AUTH_SUITE (default trixie; sid gives HTCondor 25.x, the "latest" matrix),
# GWMS_AUTH_ROOT (default /var/tmp/gwms-<suite>-auth), GWMS_AUTH_MIRROR (default
# http://deb.debian.org/debian). Writes a build log to ${ROOT}.build.log.
# Exit status: 0 on success, 1 on failure, 2 on bad usage.
set -Eeuo pipefail

readonly SUITE="${GWMS_AUTH_SUITE:-trixie}"
readonly ROOT="${GWMS_AUTH_ROOT:-/var/tmp/gwms-${SUITE}-auth}"
readonly MIRROR="${GWMS_AUTH_MIRROR:-http://deb.debian.org/debian}"
readonly PACKAGES=(condor python3 ca-certificates procps)
readonly DONE_MARK="${ROOT}/.gwms-auth-root-ready"
readonly BUILD_LOG="${ROOT}.build.log"

gwms_auth::log() {
  printf '[trixie-condor %(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

gwms_auth::die() {
  gwms_auth::log "ERROR: $*"
  exit 1
}

gwms_auth::mount() {
  local target
  for target in proc sys dev dev/pts; do
    mkdir -p "${ROOT}/${target}"
  done
  mountpoint -q "${ROOT}/proc" || mount -t proc proc "${ROOT}/proc"
  mountpoint -q "${ROOT}/sys" || mount -t sysfs sysfs "${ROOT}/sys"
  mountpoint -q "${ROOT}/dev" || mount --bind /dev "${ROOT}/dev"
  mountpoint -q "${ROOT}/dev/pts" || mount --bind /dev/pts "${ROOT}/dev/pts"
}

gwms_auth::umount() {
  local target
  for target in dev/pts dev sys proc; do
    if mountpoint -q "${ROOT}/${target}"; then
      umount -l "${ROOT}/${target}" || true
    fi
  done
}

gwms_auth::build() {
  if [[ -e "${DONE_MARK}" ]]; then
    gwms_auth::log "${ROOT} is ready (remove ${DONE_MARK} to rebuild)"
    return 0
  fi
  command -v debootstrap >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local start=${SECONDS}
  if [[ ! -x "${ROOT}/usr/bin/apt-get" ]]; then
    gwms_auth::log "debootstrap ${SUITE} into ${ROOT} (log: ${BUILD_LOG})"
    debootstrap --variant=minbase "${SUITE}" "${ROOT}" "${MIRROR}" >>"${BUILD_LOG}" 2>&1 \
      || gwms_auth::die "debootstrap failed, see ${BUILD_LOG}"
  fi
  cp /etc/resolv.conf "${ROOT}/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"${ROOT}/usr/sbin/policy-rc.d"
  chmod 0755 "${ROOT}/usr/sbin/policy-rc.d"
  printf 'deb %s %s main\n' "${MIRROR}" "${SUITE}" >"${ROOT}/etc/apt/sources.list"
  gwms_auth::mount
  gwms_auth::log "installing ${PACKAGES[*]} into the root"
  if ! chroot "${ROOT}" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
    /bin/sh -c 'apt-get -o Acquire::Check-Valid-Until=false update -q \
      && apt-get install -y -q --no-install-recommends "$@" && apt-get clean' \
    sh "${PACKAGES[@]}" >>"${BUILD_LOG}" 2>&1; then
    gwms_auth::umount
    gwms_auth::die "apt-get install failed, see ${BUILD_LOG}"
  fi
  # the local account a CE maps the factory's SciToken to (tests/auth/test_auth_scitokens_ce.py)
  chroot "${ROOT}" /bin/sh -c 'id gwmsfactory >/dev/null 2>&1 || useradd --system \
    --no-create-home --shell /usr/sbin/nologin gwmsfactory' >>"${BUILD_LOG}" 2>&1
  gwms_auth::umount
  rm -f "${ROOT}/usr/sbin/policy-rc.d"
  : >"${DONE_MARK}"
  gwms_auth::log "root ready in $((SECONDS - start)) s"
}

gwms_auth::status() {
  [[ -e "${DONE_MARK}" ]] || { gwms_auth::log "${ROOT} is not built"; return 1; }
  [[ ${EUID} -eq 0 ]] || { gwms_auth::log "not root: cannot chroot"; return 1; }
  chroot "${ROOT}" /usr/bin/condor_version
}

main() {
  local cmd="${1:-}"
  (($# > 0)) && shift
  case "${cmd}" in
    build)
      [[ ${EUID} -eq 0 ]] || gwms_auth::die "run as root (debootstrap, chroot)"
      gwms_auth::build
      ;;
    mount) gwms_auth::mount ;;
    umount) gwms_auth::umount ;;
    run)
      (($# > 0)) || gwms_auth::die "run: missing command"
      gwms_auth::mount
      exec chroot "${ROOT}" /usr/bin/env LC_ALL=C.UTF-8 "$@"
      ;;
    status) gwms_auth::status ;;
    path) printf '%s\n' "${ROOT}" ;;
    -h | --help | "") sed -n '2,18p' "$0"; [[ -n "${cmd}" ]] || exit 2 ;;
    *) gwms_auth::log "unknown command: ${cmd}"; exit 2 ;;
  esac
}

main "$@"
