# shellcheck shell=bash
# shellcheck disable=SC2034 # GWMS_SCRIPTS_* globals are this library's output
# glidein/lib/scripts.sh - run the ordered setup/validation scripts of scripts.list.
#
# Sourced library: defines functions, runs nothing. Uses lib/log.sh.
#
# scripts.list (written by gwms_core/staging.py): one script per line,
#   <level> <order> <kind> <name> <period>
# level in factory|entry|frontend|group (run in that order), order 0..999, kind
# setup|periodic, name a staged file, period seconds (periodic only, else 0).
#
# The script contract (docs/glidein.md):
#   environment  GWMS_WORK_DIR, GWMS_STAGE_DIR, GWMS_ATTRS_FILE, GWMS_LIB_DIR,
#                GWMS_LOG_FILE, GWMS_LOG_SCRIPT, GWMS_SCRIPT_LEVEL, plus every
#                GLIDEIN_* identity variable exported by the pilot
#   advertise    append KEY=VALUE lines to $GWMS_ATTRS_FILE (gwms_attr_set)
#   exit status  0 ok, 1 validation failure (the node is bad), 2 (or any other) script
#                error; output (stdout+stderr) is kept and attached to the JSON log
#                when the script fails.
#
# Sets GWMS_SCRIPTS_FAILED (name of the failing script) and GWMS_SCRIPTS_STATUS;
# GWMS_SCRIPT_PID is the pid of the script running now (empty between scripts).

# gwms_scripts_level_rank LEVEL
# Print 1..4 for factory, entry, frontend, group; return 1 otherwise.
gwms_scripts_level_rank() {
  case $1 in
    factory) printf '1' ;;
    entry) printf '2' ;;
    frontend) printf '3' ;;
    group) printf '4' ;;
    *) return 1 ;;
  esac
}

# gwms_scripts_parse LIST_FILE KIND
# Print the scripts of KIND in run order as "<level> <name> <period>" lines. Returns 1,
# naming the line on stderr, when a line is malformed or a name is unsafe.
gwms_scripts_parse() {
  local list=$1 want=$2 level order kind name period extra rank number=0
  local -a rows=()
  while read -r level order kind name period extra || [[ -n ${level:-} ]]; do
    number=$((number + 1))
    [[ -z ${level:-} || $level == \#* ]] && continue
    if ! rank=$(gwms_scripts_level_rank "$level") || [[ ! $order =~ ^[0-9]{1,3}$ ]] ||
      [[ $kind != setup && $kind != periodic ]] || [[ ! ${period:-} =~ ^[0-9]+$ ]] ||
      [[ -n ${extra:-} ]] || ! gwms_stage_check_name "${name:-}"; then
      printf 'scripts.list line %d: expected "<level> <order> <kind> <name> <period>"\n' \
        "$number" >&2
      return 1
    fi
    [[ $kind == "$want" ]] || continue
    rows+=("$(printf '%s %03d %s %s %s' "$rank" "$((10#$order))" "$name" "$level" "$period")")
  done <"$list"
  ((${#rows[@]})) || return 0
  printf '%s\n' "${rows[@]}" | LC_ALL=C sort -k1,1n -k2,2n -k3,3 |
    while read -r rank order name level period; do
      printf '%s %s %s\n' "$level" "$name" "$period"
    done
}

# gwms_script_output_path NAME
# Print where the output of script NAME is kept: $GWMS_WORK_DIR/log/scripts/<name>.out
# with '/' in NAME turned into '__'.
gwms_script_output_path() {
  local safe=${1//\//__}
  printf '%s/log/scripts/%s.out' "${GWMS_WORK_DIR:-.}" "$safe"
}

# gwms_script_run NAME PATH LEVEL
# Run one setup script under the contract above, with GWMS_SCRIPT_TIMEOUT seconds
# (default 600) when `timeout` exists. Logs one record; on failure the record carries
# the output. Returns the script's status class: 0 ok, 1 validation failure, 2 error.
gwms_script_run() {
  local name=$1 path=$2 level=$3 out rc=0 t0 elapsed
  local timeout_s=${GWMS_SCRIPT_TIMEOUT:-600}
  local -a runner=()
  out=$(gwms_script_output_path "$name")
  mkdir -p "${out%/*}"
  if [[ ! -f $path ]]; then
    printf 'script file %s is missing\n' "$path" >"$out"
    gwms_log_attach error "$out" "script ${name} (${level}) is missing: script error"
    return 2
  fi
  chmod u+x "$path" 2>/dev/null || true
  if command -v timeout >/dev/null 2>&1; then
    runner=(timeout --kill-after=10 "$timeout_s")
  fi
  t0=$SECONDS
  # In the background, so that a signal to the pilot is handled at once (bash runs traps
  # only between foreground commands); GWMS_SCRIPT_PID lets the handler stop the script.
  (
    cd "${GWMS_WORK_DIR:-.}" || exit 2
    export GWMS_LOG_SCRIPT=$name GWMS_SCRIPT_LEVEL=$level
    exec "${runner[@]}" "$path"
  ) </dev/null >"$out" 2>&1 &
  GWMS_SCRIPT_PID=$!
  wait "$GWMS_SCRIPT_PID" || rc=$?
  GWMS_SCRIPT_PID=
  elapsed=$((SECONDS - t0))
  case $rc in
    0)
      gwms_log info "script ${name} (${level}) ok in ${elapsed}s"
      return 0
      ;;
    1)
      gwms_log_attach error "$out" \
        "script ${name} (${level}) failed validation (exit 1) in ${elapsed}s: node is not usable"
      return 1
      ;;
    124 | 137)
      gwms_log_attach error "$out" \
        "script ${name} (${level}) timed out after ${timeout_s}s (exit ${rc}): script error"
      return 2
      ;;
    *)
      gwms_log_attach error "$out" "script ${name} (${level}) error (exit ${rc}) in ${elapsed}s"
      return 2
      ;;
  esac
}

# gwms_scripts_run_setup LIST_FILE STAGE_DIR
# Run every setup script of LIST_FILE in order, stopping at the first failure.
# Returns 0 when all passed, 1 on a validation failure, 2 on a script error (and on a
# malformed list). GWMS_SCRIPTS_FAILED names the failing script.
gwms_scripts_run_setup() {
  local list=$1 stage=$2 rows level name period rc count=0
  GWMS_SCRIPTS_FAILED=
  GWMS_SCRIPTS_STATUS=0
  [[ -f $list ]] || return 0
  if ! rows=$(gwms_scripts_parse "$list" setup 2>&1); then
    GWMS_SCRIPTS_FAILED=scripts.list
    GWMS_SCRIPTS_STATUS=2
    gwms_log error "scripts.list is malformed: ${rows}"
    return 2
  fi
  while read -r level name period; do
    [[ -n $level ]] || continue
    count=$((count + 1))
    rc=0
    gwms_script_run "$name" "${stage}/${name}" "$level" || rc=$?
    if ((rc != 0)); then
      GWMS_SCRIPTS_FAILED=$name
      GWMS_SCRIPTS_STATUS=$rc
      return "$rc"
    fi
  done <<<"$rows"
  gwms_log info "${count} setup script(s) passed"
  return 0
}
