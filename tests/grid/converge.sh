#!/bin/bash
# Converge the local grid with the collection's pool playbook (tests/grid/up.sh first).
# Usage: tests/grid/converge.sh [--check-idempotent] [ansible-playbook args...]
# With --check-idempotent, fails unless the run reports changed=0 on every host.
# Reads: GWMS_INVENTORY (default inventories/local), GWMS_PLAYBOOK, ANSIBLE_* variables.
# Exit status: that of ansible-playbook, or 1 when the idempotence check fails.
set -Eeuo pipefail

# shellcheck source=tests/grid/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  local check=0
  if [[ ${1:-} == --check-idempotent ]]; then
    check=1
    shift
  fi
  export ANSIBLE_COLLECTIONS_PATH="${GRID_REPO}/collections${ANSIBLE_COLLECTIONS_PATH:+:${ANSIBLE_COLLECTIONS_PATH}}"
  export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
  export ANSIBLE_STDOUT_CALLBACK="${ANSIBLE_STDOUT_CALLBACK:-ansible.builtin.default}"
  export ANSIBLE_CALLBACKS_ENABLED="${ANSIBLE_CALLBACKS_ENABLED:-ansible.posix.profile_tasks}"
  export ANSIBLE_HOST_KEY_CHECKING=False
  local inventory="${GWMS_INVENTORY:-${GRID_REPO}/inventories/local}"
  local playbook="${GWMS_PLAYBOOK:-gwms.glideinwms.pool}"
  local log
  log="$(mktemp /tmp/gwms-converge.XXXXXX.log)"
  local rc=0
  ansible-playbook -i "${inventory}" "${playbook}" "$@" 2>&1 | tee "${log}" || rc=$?
  if ((rc != 0)); then
    gwms_grid::log "converge failed (rc=${rc}); log in ${log}"
    return "${rc}"
  fi
  if ((check == 1)); then
    if grep -E '^[a-z0-9_.-]+ +: ok=' "${log}" | grep -Ev ' changed=0 ' >&2; then
      gwms_grid::log "NOT idempotent: the second converge changed something (log ${log})"
      grep -E '^changed: ' "${log}" >&2 || true
      return 1
    fi
    gwms_grid::log "idempotent: changed=0 on every host"
  fi
  rm -f "${log}"
}

main "$@"
