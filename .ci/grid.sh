#!/bin/bash
# The local grid end to end, from a fresh clone on a fresh Debian 12 machine (as root):
# install host packages and controller tools, build the image (cached), start the grid,
# converge it twice (the second run must report changed=0), lint the collection, run
# `pytest -m grid tests/grid`, and tear the grid down. Prints a timing per step.
#
# Reads: GWMS_GRID_VENV (controller venv, default /var/tmp/gwms-grid-venv; reused when
# present), GWMS_GRID_KEEP=1 (leave the grid up), GWMS_GRID_SKIP_LINT=1,
# GWMS_GRID_MOLECULE=0 (skip the molecule scenarios), GWMS_VENV (a venv with the project
# installed: also run the grid-marked tests outside tests/grid with it), and
# tests/grid/lib.sh's GWMS_GRID_* variables.
# Exit status: 0 when every step passed, non-zero otherwise.
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly VENV="${GWMS_GRID_VENV:-/var/tmp/gwms-grid-venv}"
declare -a TIMINGS=()

gwms_ci::log() {
  printf '[grid.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

# Run one named step, recording how long it took.
gwms_ci::step() {
  local name="$1" start=${SECONDS} rc=0
  shift
  gwms_ci::log "=== ${name}"
  "$@" || rc=$?
  TIMINGS+=("$(printf '%-34s %5ds %s' "${name}" $((SECONDS - start)) \
    "$( ((rc == 0)) && printf ok || printf 'FAILED (%d)' "${rc}")")")
  return "${rc}"
}

gwms_ci::report() {
  local line
  printf '\n%s\n' "--- grid.sh timings (total ${SECONDS}s) ---" >&2
  for line in "${TIMINGS[@]}"; do
    printf '%s\n' "${line}" >&2
  done
}

gwms_ci::host_packages() {
  local -a need=()
  command -v python3 >/dev/null || need+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  if ((${#need[@]} > 0)); then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${need[@]}" >/dev/null
  fi
}

gwms_ci::venv() {
  if [[ ! -x ${VENV}/bin/python ]]; then
    python3 -m venv "${VENV}"
  fi
  "${VENV}/bin/pip" install -q --disable-pip-version-check \
    -r "${REPO}/tests/grid/requirements.txt"
}

gwms_ci::lint() {
  (cd "${REPO}/collections/ansible_collections/gwms/glideinwms" \
    && ANSIBLE_COLLECTIONS_PATH="${REPO}/collections" ansible-lint --profile production)
  (cd "${REPO}" && ANSIBLE_COLLECTIONS_PATH="${REPO}/collections" \
    ansible-lint --profile production molecule/ inventories/)
  # Role defaults and meta/argument_specs.yml must name the same variables.
  (cd "${REPO}" && python -m pytest -q --confcutdir=tests/grid -p no:cacheprovider \
    tests/grid/test_role_specs.py)
}

gwms_ci::molecule() {
  local scenario
  for scenario in "${REPO}"/molecule/*/; do
    [[ -f ${scenario}/molecule.yml ]] || continue
    # e2e ran earlier, on the deployed end-to-end grid (gwms_ci::molecule_e2e)
    [[ $(basename "${scenario}") == e2e ]] && continue
    (cd "${REPO}" && molecule test -s "$(basename "${scenario}")") || return 1
  done
}

# The e2e scenario on the end-to-end grid the project's grid tests deployed (the
# e2e_grid fixture's prefix): create finds its containers running, so converge,
# idempotence and verify are the cost; destroy removes them (kept with GWMS_GRID_KEEP=1).
gwms_ci::molecule_e2e() {
  local -a keep=()
  [[ ${GWMS_GRID_KEEP:-0} == 1 ]] && keep=(--destroy never)
  (cd "${REPO}" && GWMS_E2E_PREFIX="${GWMS_E2E_PREFIX:-gwms-e2e-}" \
    molecule test -s e2e "${keep[@]}")
}

gwms_ci::pytest() {
  # --confcutdir: the grid checks need only pytest, not the project's own test fixtures.
  (cd "${REPO}" && GWMS_GRID_REQUIRED=1 python -m pytest -m grid \
    --confcutdir=tests/grid -p no:cacheprovider tests/grid)
}

# Grid-marked tests elsewhere in the project need the project installed: run them with
# the project's venv when the caller names one (GWMS_VENV, as run-tests does).
# The 20-job workload (tests/e2e/test_e2e.py) is the verify step of the e2e molecule
# scenario, which runs next on the same deployment: run it once, there.
gwms_ci::pytest_project() {
  local py="${GWMS_VENV}/bin/python"
  local -a skip=()
  [[ ${GWMS_GRID_MOLECULE:-1} == 1 ]] && skip=(--deselect tests/e2e/test_e2e.py)
  (cd "${REPO}" && GWMS_GRID_REQUIRED=1 "${py}" -m pytest -m grid -p no:cacheprovider \
    --ignore=tests/grid "${skip[@]}" tests)
}

gwms_ci::teardown() {
  local rc=$?
  if [[ ${GWMS_GRID_KEEP:-0} != 1 ]]; then
    gwms_ci::step "tear down" "${REPO}/tests/grid/down.sh" || true
  else
    gwms_ci::log "GWMS_GRID_KEEP=1: leaving the grid up (tests/grid/down.sh removes it)"
  fi
  gwms_ci::report
  exit "${rc}"
}

main() {
  [[ ${EUID} -eq 0 ]] || { gwms_ci::log "run as root"; exit 1; }
  trap gwms_ci::teardown EXIT
  gwms_ci::step "host packages" gwms_ci::host_packages
  gwms_ci::step "controller venv (pip)" gwms_ci::venv
  export PATH="${VENV}/bin:${PATH}" VIRTUAL_ENV="${VENV}"
  gwms_ci::step "build image (cached by recipe hash)" "${REPO}/tests/grid/build-image.sh"
  if [[ ${GWMS_GRID_SKIP_LINT:-0} != 1 ]]; then
    gwms_ci::step "ansible-lint (production), specs" gwms_ci::lint
  fi
  gwms_ci::step "grid down (clean start)" "${REPO}/tests/grid/down.sh"
  gwms_ci::step "grid up" "${REPO}/tests/grid/up.sh"
  gwms_ci::step "converge" "${REPO}/tests/grid/converge.sh"
  gwms_ci::step "converge again (changed=0)" "${REPO}/tests/grid/converge.sh" --check-idempotent
  gwms_ci::step "pytest -m grid tests/grid" gwms_ci::pytest
  local e2e_up=0
  if [[ -n ${GWMS_VENV:-} ]] && "${GWMS_VENV}/bin/python" -c 'import gwms_core' 2>/dev/null; then
    gwms_ci::step "pytest -m grid (rest of tests/)" gwms_ci::pytest_project
    e2e_up=1
  fi
  if [[ ${GWMS_GRID_MOLECULE:-1} == 1 ]]; then
    if ((e2e_up)); then
      gwms_ci::step "molecule e2e (deployed e2e grid)" gwms_ci::molecule_e2e
    fi
    # Free the machine's two cores for molecule's own containers.
    if [[ ${GWMS_GRID_KEEP:-0} != 1 ]]; then
      gwms_ci::step "tear down" "${REPO}/tests/grid/down.sh"
    fi
    gwms_ci::step "molecule (other scenarios)" gwms_ci::molecule
  fi
}

main "$@"
