#!/bin/bash
# Run the factory's real-daemon tests: build the Debian 13 root if needed, then pytest.
#
# Reads:   GWMS_FACTORY_ROOT (root directory), PYTHON (default /work/venv/bin/python,
#          else python3), extra arguments (passed to pytest).
# Writes:  the root (tests/factory/setup-condor-root.sh), pytest output.
# Exit:    pytest's exit code; 2 when not run as root.
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
REPO="$(cd "${HERE}/../.." && pwd)"
readonly REPO

main() {
  local python="${PYTHON:-/work/venv/bin/python}"
  local t0
  local t1
  local rc=0
  [[ -x "${python}" ]] || python=python3
  t0=$(date +%s)
  "${HERE}/setup-condor-root.sh"
  t1=$(date +%s)
  printf 'factory tests: root ready in %d s\n' "$((t1 - t0))" >&2
  cd "${REPO}"
  "${python}" -m pytest -q -rs tests/factory "$@" || rc=$?
  printf 'factory tests: pytest took %d s\n' "$(($(date +%s) - t1))" >&2
  return "${rc}"
}

main "$@"
