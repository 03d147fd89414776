#!/bin/bash
# glidein_startup.sh - the glidein (pilot): verify, validate, then run an HTCondor startd
# that joins the pool named on the command line.
#
# Reads:
#   command line      see --help (lib/args.sh); the staging area's manifest URL and the
#                     manifest's sha256 are required
#   staging area      manifest.sha256 and the files it lists, fetched over HTTP(S) with
#                     curl or wget and checked one by one before anything runs;
#                     scripts.list (setup/periodic scripts), glidein.params (KEY=VALUE),
#                     lib/*.sh, gwms_cron_wrapper.sh, condor.tar.gz (optional)
#   environment       TMPDIR, _CONDOR_SCRATCH_DIR (work directory candidates),
#                     GWMS_HTTP_TOOL, GWMS_FETCH_TRIES, GWMS_SCRIPT_TIMEOUT
# Writes:
#   <work>/log/glidein.jsonl   JSON log records (lib/log.sh), POSTed to --log-url at exit
#   <work>/glidein.attrs       glidein attributes (parameters + what scripts advertise)
#   <work>/condor/condor_config
# Advertises (startd ClassAd): every attribute of glidein.attrs, including
#   GLIDEIN_Factory GLIDEIN_Entry_Name GLIDEIN_Client GLIDECLIENT_Group GLIDEIN_Site
#   GLIDEIN_Schedd GLIDEIN_ClusterId GLIDEIN_ProcId GLIDEIN_CredentialIdentifier
#   GLIDEIN_Id GLIDEIN_CPUS GLIDEIN_MEMORY GLIDEIN_GPUS ..., and GLIDEIN_ToRetire,
#   GLIDEIN_ToDie, GLIDEIN_BLACKHOLE, IS_GLIDEIN (docs/glidein.md has the full list)
# Exit codes:
#   0 success (HTCondor ran and ended, or --validate-only/--configure-only passed)
#   1 the node failed validation (after sleeping --failure-sleep seconds)
#   2 usage error
#   3 staging failed: download error or sha256 mismatch (nothing was run)
#   4 a setup script failed as a script (exit 2 or other), or scripts.list is malformed
#   5 HTCondor could not be configured or started, or ended with an error
#   6 no usable work directory
#   128+N ended by signal N before HTCondor ran
set -Eeuo pipefail

GWMS_VERSION=0.1.0
GWMS_SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# >>> gwms libraries >>>
# Source form: the libraries next to this script. gwms_core.staging.bundle_pilot replaces
# this block by the libraries' text, giving the single-file pilot a factory submits.
# shellcheck source=glidein/lib/log.sh
source "${GWMS_SELF_DIR}/lib/log.sh"
# shellcheck source=glidein/lib/http.sh
source "${GWMS_SELF_DIR}/lib/http.sh"
# shellcheck source=glidein/lib/args.sh
source "${GWMS_SELF_DIR}/lib/args.sh"
# shellcheck source=glidein/lib/workdir.sh
source "${GWMS_SELF_DIR}/lib/workdir.sh"
# shellcheck source=glidein/lib/stage.sh
source "${GWMS_SELF_DIR}/lib/stage.sh"
# shellcheck source=glidein/lib/attrs.sh
source "${GWMS_SELF_DIR}/lib/attrs.sh"
# shellcheck source=glidein/lib/scripts.sh
source "${GWMS_SELF_DIR}/lib/scripts.sh"
# shellcheck source=glidein/lib/condor.sh
source "${GWMS_SELF_DIR}/lib/condor.sh"
# shellcheck source=glidein/lib/multinode.sh
source "${GWMS_SELF_DIR}/lib/multinode.sh"
# <<< gwms libraries <<<

GWMS_WORK_DIR=
GWMS_EXIT_STATUS=0
GWMS_MASTER_PID=
GWMS_WATCHDOG_PID=
GWMS_LAUNCHER_PID=
# Set in a node pilot of a multi-node glidein (from the leader's environment).
GWMS_NODE_INDEX=
GWMS_NODE_BCAST_COPY=
GWMS_NODES=1

# shellcheck disable=SC2317 # gwms_main_finish and gwms_main_signal run from traps
# gwms_main_finish
# EXIT trap: final record, log flush, work directory removal (unless kept).
gwms_main_finish() {
  local rc=$?
  set +e
  trap - EXIT
  ((GWMS_EXIT_STATUS == 0)) && GWMS_EXIT_STATUS=$rc
  if [[ -n $GWMS_WATCHDOG_PID ]]; then
    kill "$GWMS_WATCHDOG_PID" 2>/dev/null
  fi
  if [[ -n $GWMS_NODE_BCAST_COPY ]]; then
    rm -f -- "$GWMS_NODE_BCAST_COPY"
  fi
  if [[ -n $GWMS_WORK_DIR ]]; then
    gwms_log info "glidein exiting with status ${GWMS_EXIT_STATUS}"
    gwms_log_flush
    if ((GWMS_OPT_KEEP_WORK_DIR)); then
      printf 'glidein_startup.sh: work directory kept: %s\n' "$GWMS_WORK_DIR" >&2
    else
      gwms_workdir_cleanup "$GWMS_WORK_DIR"
    fi
  fi
  exit "$GWMS_EXIT_STATUS"
}

# shellcheck disable=SC2317 # runs from traps
# gwms_main_signal SIGNAL NUMBER
# Forward a signal to condor_master when it runs (TERM/INT/HUP: graceful, QUIT: fast);
# otherwise end the glidein with status 128+NUMBER.
gwms_main_signal() {
  local sig=$1 num=$2
  if [[ -n $GWMS_LAUNCHER_PID ]] && kill -0 "$GWMS_LAUNCHER_PID" 2>/dev/null; then
    gwms_log warning "received SIG${sig}: forwarding to the launcher (pid ${GWMS_LAUNCHER_PID})"
    kill -"$sig" "$GWMS_LAUNCHER_PID" 2>/dev/null || true
    return 0
  fi
  if [[ -n $GWMS_MASTER_PID ]] && kill -0 "$GWMS_MASTER_PID" 2>/dev/null; then
    gwms_log warning "received SIG${sig}: forwarding to condor_master (pid ${GWMS_MASTER_PID})"
    kill -"$sig" "$GWMS_MASTER_PID" 2>/dev/null || true
    return 0
  fi
  if [[ -n ${GWMS_SCRIPT_PID:-} ]]; then
    kill -TERM "$GWMS_SCRIPT_PID" 2>/dev/null || true
  fi
  gwms_log warning "received SIG${sig}: ending"
  GWMS_EXIT_STATUS=$((128 + num))
  exit "$GWMS_EXIT_STATUS"
}

# gwms_main_fail STATUS MESSAGE
# Log MESSAGE as an error and exit with STATUS.
gwms_main_fail() {
  GWMS_EXIT_STATUS=$1
  shift
  gwms_log error "$*"
  exit "$GWMS_EXIT_STATUS"
}

# gwms_main_identity NOW
# Write the identity and lifetime attributes from the command line.
gwms_main_identity() {
  local now=$1 host id name
  host=$(uname -n)
  id=${GWMS_OPT_GLIDEIN_ID:-${host}-$$-${now}}
  name=glidein_$$_${now}
  if [[ -n $GWMS_NODE_INDEX ]]; then
    id+=-n${GWMS_NODE_INDEX}
    name=glidein_n${GWMS_NODE_INDEX}_$$_${now}
    gwms_attr_set GLIDEIN_Node_Index "$GWMS_NODE_INDEX"
    gwms_attr_set GLIDEIN_Nodes "$GWMS_NODES"
    [[ -n ${SLURMD_NODENAME:-} ]] && gwms_attr_set GLIDEIN_Batch_Node "$SLURMD_NODENAME"
  fi
  gwms_attr_set GLIDEIN_Id "$id"
  gwms_attr_set GLIDEIN_Name "$name"
  gwms_attr_set GLIDEIN_Host "$host"
  gwms_attr_set GLIDEIN_Start_Time "$now"
  gwms_attr_set GLIDEIN_Version "$GWMS_VERSION"
  [[ -n $GWMS_OPT_FACTORY ]] && gwms_attr_set GLIDEIN_Factory "$GWMS_OPT_FACTORY"
  [[ -n $GWMS_OPT_ENTRY ]] && gwms_attr_set GLIDEIN_Entry_Name "$GWMS_OPT_ENTRY"
  [[ -n $GWMS_OPT_FRONTEND ]] && gwms_attr_set GLIDEIN_Client "$GWMS_OPT_FRONTEND"
  [[ -n $GWMS_OPT_GROUP ]] && gwms_attr_set GLIDECLIENT_Group "$GWMS_OPT_GROUP"
  [[ -n $GWMS_OPT_SITE ]] && gwms_attr_set GLIDEIN_Site "$GWMS_OPT_SITE"
  [[ -n $GWMS_OPT_SCHEDD ]] && gwms_attr_set GLIDEIN_Schedd "$GWMS_OPT_SCHEDD"
  [[ -n $GWMS_OPT_CLUSTER ]] && gwms_attr_set GLIDEIN_ClusterId "$GWMS_OPT_CLUSTER"
  [[ -n $GWMS_OPT_PROC ]] && gwms_attr_set GLIDEIN_ProcId "$GWMS_OPT_PROC"
  [[ -n $GWMS_OPT_CREDENTIAL_ID ]] &&
    gwms_attr_set GLIDEIN_CredentialIdentifier "$GWMS_OPT_CREDENTIAL_ID"
  [[ -n $GWMS_OPT_COLLECTOR ]] && gwms_attr_set GLIDEIN_Collector "$GWMS_OPT_COLLECTOR"
  [[ -n $GWMS_OPT_WALLTIME ]] && gwms_attr_set GLIDEIN_Max_Walltime "$GWMS_OPT_WALLTIME"
  gwms_log_attrs "glidein identity" "factory=$GWMS_OPT_FACTORY" "entry=$GWMS_OPT_ENTRY" \
    "frontend=$GWMS_OPT_FRONTEND" "site=$GWMS_OPT_SITE" "node=$host" "glidein_id=$id" \
    "job_id=$(gwms_main_batch_job_id)"
  return 0
}

# gwms_main_batch_job_id
# Print the batch system's id of this job (Slurm, PBS, LSF, SGE, HTCondor), or nothing.
gwms_main_batch_job_id() {
  local id=${SLURM_JOB_ID:-${PBS_JOBID:-${LSB_JOBID:-${JOB_ID:-}}}}
  if [[ -z $id && -r ${_CONDOR_JOB_AD:-} ]]; then
    id=$(sed -n 's/^GlobalJobId = "\(.*\)"$/\1/p' "$_CONDOR_JOB_AD" 2>/dev/null | head -n 1)
  fi
  printf '%s' "$id"
}

# gwms_main_params STAGE_DIR
# Merge glidein.params from the staging area, then the --param values (which win).
gwms_main_params() {
  local stage=$1 kv
  if [[ -f ${stage}/glidein.params ]]; then
    gwms_attrs_merge "${stage}/glidein.params" ||
      gwms_log warning "glidein.params has malformed lines (skipped)"
  fi
  for kv in "${GWMS_OPT_PARAMS[@]}"; do
    gwms_attr_set "${kv%%=*}" "${kv#*=}" ||
      gwms_log warning "--param ${kv%%=*}: value must be one line (skipped)"
  done
  return 0
}

# gwms_main_condor_locate STAGE_DIR
# Print the gwms_condor_locate line: a staged condor tarball (GLIDEIN_CONDOR_TARBALL,
# default condor.tar.gz) when present, else an installed HTCondor on PATH.
gwms_main_condor_locate() {
  local stage=$1 tarball dir
  tarball=$(gwms_attr_default GLIDEIN_CONDOR_TARBALL condor.tar.gz)
  if [[ -f ${stage}/${tarball} ]]; then
    if ! dir=$(gwms_condor_extract "${stage}/${tarball}" "${GWMS_WORK_DIR}/condor-release"); then
      gwms_log error "cannot unpack ${tarball}"
      return 1
    fi
    gwms_condor_locate "$dir"
  else
    gwms_condor_locate
  fi
}

# gwms_main_cron_setup STAGE_DIR
# Install the cron wrapper and one <work>/cron/<job> file per periodic script; write the
# job list used by gwms_condor_config_render to <work>/cron/jobs.
gwms_main_cron_setup() {
  local stage=$1 rows level name period n=0
  mkdir -p "${GWMS_WORK_DIR}/cron" "${GWMS_WORK_DIR}/bin"
  : >"${GWMS_WORK_DIR}/cron/jobs"
  [[ -f ${stage}/scripts.list ]] || return 0
  rows=$(gwms_scripts_parse "${stage}/scripts.list" periodic) || return 1
  [[ -n $rows ]] || return 0
  if [[ ! -f ${stage}/gwms_cron_wrapper.sh ]]; then
    gwms_log error "periodic scripts listed but gwms_cron_wrapper.sh is not staged"
    return 1
  fi
  cp "${stage}/gwms_cron_wrapper.sh" "${GWMS_WORK_DIR}/bin/gwms_cron_wrapper"
  chmod 755 "${GWMS_WORK_DIR}/bin/gwms_cron_wrapper"
  while read -r level name period; do
    [[ -n $level ]] || continue
    n=$((n + 1))
    chmod u+x "${stage}/${name}"
    printf '%s %s\n' "$name" "$level" >"${GWMS_WORK_DIR}/cron/GWMS${n}"
    printf 'GWMS%d %s %s %s\n' "$n" "$name" "$level" "$period" >>"${GWMS_WORK_DIR}/cron/jobs"
  done <<<"$rows"
}

# gwms_main_run_condor RELEASE_LINE NOW
# Write the configuration, then run condor_master in the foreground until it ends;
# a watchdog asks for a fast shutdown at GLIDEIN_ToDie.
gwms_main_run_condor() {
  local release_line=$1 now=$2 rel sbin bin libexec identity='' config todie rc=0 lib
  local -a libdirs=()
  read -r rel sbin bin libexec <<<"$release_line"
  mkdir -p "${GWMS_WORK_DIR}/condor/"{log,spool,execute,lock,run,tokens.d,passwords.d}
  chmod 700 "${GWMS_WORK_DIR}/condor/tokens.d" "${GWMS_WORK_DIR}/condor/passwords.d"
  if [[ -n $GWMS_OPT_TOKEN_FILE ]]; then
    [[ -r $GWMS_OPT_TOKEN_FILE ]] || gwms_main_fail 5 "token file ${GWMS_OPT_TOKEN_FILE} is not readable"
    (umask 077 && cp "$GWMS_OPT_TOKEN_FILE" "${GWMS_WORK_DIR}/condor/tokens.d/glidein")
    chmod 600 "${GWMS_WORK_DIR}/condor/tokens.d/glidein"
    identity=$(gwms_jwt_claim "$GWMS_OPT_TOKEN_FILE" sub) || identity=
  elif ((!GWMS_OPT_CONFIGURE_ONLY)); then
    gwms_main_fail 5 "no --token-file: the startd cannot authenticate to the pool"
  fi
  gwms_main_cron_setup "${GWMS_WORK_DIR}/stage" || gwms_main_fail 4 "periodic scripts cannot be set up"
  config=${GWMS_WORK_DIR}/condor/condor_config
  if ! gwms_condor_config_render "$GWMS_WORK_DIR" "$release_line" "$now" "$identity" \
    "${GWMS_WORK_DIR}/cron/jobs" >"$config" 2>"${config}.err"; then
    gwms_log_attach error "${config}.err" "cannot write the HTCondor configuration"
    GWMS_EXIT_STATUS=5
    exit 5
  fi
  # Fragments written by setup scripts (e.g. scripts/gwms_container.sh), in name order.
  for lib in "${GWMS_WORK_DIR}"/condor_config.d/*.config; do
    [[ -f $lib ]] && cat "$lib" >>"$config"
  done
  export CONDOR_CONFIG=$config
  export PATH=${sbin}:${bin}:${PATH}
  for lib in "${rel}/lib" "${rel}/lib64" "${rel}/lib/condor" "${rel}/lib/x86_64-linux-gnu"; do
    [[ -d $lib && $rel != / && $rel != /usr ]] && libdirs+=("$lib")
  done
  if ((${#libdirs[@]})); then
    local joined
    printf -v joined '%s:' "${libdirs[@]}"
    export LD_LIBRARY_PATH=${joined}${LD_LIBRARY_PATH:-}
  fi
  gwms_log info "HTCondor configuration written (${config}); release ${rel}"
  if ((GWMS_OPT_CONFIGURE_ONLY)); then
    gwms_log info "--configure-only: not starting HTCondor"
    return 0
  fi
  todie=$(sed -n 's/^GLIDEIN_ToDie = \([0-9]*\)$/\1/p' "$config")
  "${sbin}/condor_master" -f >"${GWMS_WORK_DIR}/condor/log/master.stdout" 2>&1 &
  GWMS_MASTER_PID=$!
  gwms_log info "condor_master started (pid ${GWMS_MASTER_PID}); collector $(gwms_attr_get GLIDEIN_Collector)"
  if [[ $todie =~ ^[0-9]+$ ]]; then
    (
      trap - EXIT INT HUP QUIT
      sleeper=''
      trap 'kill "$sleeper" 2>/dev/null; wait "$sleeper"; exit 0' TERM
      sleep "$((todie - now + 60))" &
      sleeper=$!
      wait "$sleeper"
      kill -QUIT "$GWMS_MASTER_PID" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
    GWMS_WATCHDOG_PID=$!
  fi
  # Poll instead of a blocking wait: the master stays up after its startd ended through
  # DAEMON_SHUTDOWN until its own (slow) DAEMON_SHUTDOWN check; end it at once instead.
  local master_log=${GWMS_WORK_DIR}/condor/log/MasterLog
  while kill -0 "$GWMS_MASTER_PID" 2>/dev/null; do
    sleep "${GWMS_CONDOR_POLL:-5}" &
    wait $! || true
    if gwms_condor_startd_ended "$master_log"; then
      gwms_log info "the startd ended (DAEMON_SHUTDOWN): stopping condor_master"
      local bh
      if bh=$(gwms_condor_blackhole_report "${GWMS_WORK_DIR}/condor/log/StartLog"); then
        gwms_log warning "black hole: jobs started faster than GLIDEIN_BLACKHOLE_RATE=$(gwms_attr_default GLIDEIN_BLACKHOLE_RATE 0) per second (at least GLIDEIN_BLACKHOLE_NUMJOBS=$(gwms_attr_default GLIDEIN_BLACKHOLE_NUMJOBS 10)); latched (rate test last changed at ${bh% *}), ${bh#* } jobs started in all; no job accepted after it"
      fi
      kill -TERM "$GWMS_MASTER_PID" 2>/dev/null || true
      break
    fi
  done
  rc=0
  wait "$GWMS_MASTER_PID" || rc=$?
  GWMS_MASTER_PID=
  if ((rc != 0)); then
    gwms_log_attach error "${GWMS_WORK_DIR}/condor/log/MasterLog" "condor_master ended with status ${rc}"
    [[ -f ${GWMS_WORK_DIR}/condor/log/StartdLog ]] &&
      gwms_log_attach error "${GWMS_WORK_DIR}/condor/log/StartdLog" "StartdLog of the failed glidein"
    GWMS_EXIT_STATUS=5
    exit 5
  fi
  gwms_log info "condor_master ended normally"
  return 0
}

# gwms_main_multinode ARG...
# The leader of a multi-node glidein: run this pilot once per node with the launcher
# (ARG... are the pilot's own arguments, passed on unchanged), wait until every node
# pilot has ended, exit with the launcher's status.
gwms_main_multinode() {
  local launcher self rc=0
  local -a cmd=()
  if ! launcher=$(gwms_multinode_launcher "$GWMS_OPT_LAUNCHER" 2>&1); then
    gwms_main_fail 2 "multi-node glidein: ${launcher}"
  fi
  self=${GWMS_SELF_DIR}/${BASH_SOURCE[0]##*/}
  mapfile -t cmd < <(gwms_multinode_command "$launcher" "$GWMS_NODES" "${TMPDIR:-/tmp}")
  command -v "${cmd[0]}" >/dev/null 2>&1 ||
    gwms_main_fail 5 "multi-node glidein: launcher ${cmd[0]} not found on PATH"
  export GWMS_NODE_PILOT=1 GWMS_NODE_LAUNCHER=$launcher
  if [[ -n $GWMS_OPT_TOKEN_FILE ]]; then
    gwms_multinode_token_export "$GWMS_OPT_TOKEN_FILE" GWMS_MULTINODE_TOKEN ||
      gwms_main_fail 5 "token file ${GWMS_OPT_TOKEN_FILE} is not readable"
  fi
  if [[ -n $GWMS_OPT_LOG_TOKEN_FILE ]]; then
    gwms_multinode_token_export "$GWMS_OPT_LOG_TOKEN_FILE" GWMS_MULTINODE_LOG_TOKEN ||
      gwms_main_fail 5 "log token file ${GWMS_OPT_LOG_TOKEN_FILE} is not readable"
  fi
  gwms_attr_set GLIDEIN_Nodes "$GWMS_NODES"
  gwms_log info "multi-node glidein: starting ${GWMS_NODES} node pilots with ${cmd[*]}"
  "${cmd[@]}" "$self" "$@" </dev/null &
  GWMS_LAUNCHER_PID=$!
  # a signal interrupts wait (forwarded by gwms_main_signal); wait again until it ends
  while kill -0 "$GWMS_LAUNCHER_PID" 2>/dev/null; do
    rc=0
    wait "$GWMS_LAUNCHER_PID" || rc=$?
  done
  GWMS_LAUNCHER_PID=
  unset GWMS_MULTINODE_TOKEN GWMS_MULTINODE_LOG_TOKEN
  if ((rc != 0)); then
    GWMS_EXIT_STATUS=$rc
    gwms_log error "multi-node glidein: ${launcher} ended with status ${rc}"
    exit "$rc"
  fi
  gwms_log info "multi-node glidein: all ${GWMS_NODES} node pilots ended"
  exit 0
}

# gwms_main_node_pilot
# In a node pilot (started by a leader): read the node index, move the tokens the
# leader passed into the work directory, and clear them from the environment.
gwms_main_node_pilot() {
  local launcher=${GWMS_NODE_LAUNCHER:-}
  unset GWMS_NODE_PILOT GWMS_NODE_LAUNCHER
  if ! GWMS_NODE_INDEX=$(gwms_multinode_index "$launcher"); then
    GWMS_NODE_INDEX=
    unset GWMS_MULTINODE_TOKEN GWMS_MULTINODE_LOG_TOKEN
    gwms_main_fail 2 "node pilot: no node index from launcher ${launcher}"
  fi
  if [[ $launcher == srun && ${BASH_SOURCE[0]##*/} == slurm_bcast_* ]]; then
    GWMS_NODE_BCAST_COPY=${GWMS_SELF_DIR}/${BASH_SOURCE[0]##*/}
  fi
  if [[ -n ${GWMS_MULTINODE_TOKEN+set} ]]; then
    gwms_multinode_token_import GWMS_MULTINODE_TOKEN "${GWMS_WORK_DIR}/glidein.token" ||
      gwms_main_fail 5 "node pilot: cannot write the token the leader passed"
    GWMS_OPT_TOKEN_FILE=${GWMS_WORK_DIR}/glidein.token
  fi
  if [[ -n ${GWMS_MULTINODE_LOG_TOKEN+set} ]]; then
    gwms_multinode_token_import GWMS_MULTINODE_LOG_TOKEN "${GWMS_WORK_DIR}/log.token" ||
      gwms_main_fail 5 "node pilot: cannot write the log token the leader passed"
    GWMS_OPT_LOG_TOKEN_FILE=${GWMS_WORK_DIR}/log.token
    GWMS_LOG_TOKEN_FILE=$GWMS_OPT_LOG_TOKEN_FILE
  fi
  unset GWMS_MULTINODE_TOKEN GWMS_MULTINODE_LOG_TOKEN
  return 0
}

main() {
  local rc=0 now release_line=
  printf -v now '%(%s)T' -1
  gwms_args_parse "$@" || rc=$?
  case $rc in
    0) ;;
    3) exit 0 ;;
    *) exit 2 ;;
  esac
  if ((GWMS_OPT_DEBUG)); then
    set -x
  fi
  GWMS_NODES=$(gwms_multinode_nodes "$GWMS_OPT_NODES")
  if ! GWMS_WORK_DIR=$(gwms_workdir_create "$GWMS_OPT_WORK_DIR"); then
    GWMS_WORK_DIR=
    printf 'glidein_startup.sh: no usable work directory\n' >&2
    exit 6
  fi
  trap gwms_main_finish EXIT
  trap 'gwms_main_signal TERM 15' TERM
  trap 'gwms_main_signal INT 2' INT
  trap 'gwms_main_signal HUP 1' HUP
  trap 'gwms_main_signal QUIT 3' QUIT
  mkdir -p "${GWMS_WORK_DIR}/log/scripts" "${GWMS_WORK_DIR}/stage"
  export GWMS_WORK_DIR
  export GWMS_STAGE_DIR=${GWMS_WORK_DIR}/stage
  export GWMS_LIB_DIR=${GWMS_STAGE_DIR}/lib
  export GWMS_ATTRS_FILE=${GWMS_WORK_DIR}/glidein.attrs
  export GWMS_LOG_FILE=${GWMS_WORK_DIR}/log/glidein.jsonl
  # shellcheck disable=SC2031 # scripts get their own value in their subshell only
  export GWMS_LOG_SCRIPT=glidein_startup.sh
  GWMS_LOG_URL=$GWMS_OPT_LOG_URL
  GWMS_LOG_TOKEN_FILE=$GWMS_OPT_LOG_TOKEN_FILE
  : >"$GWMS_ATTRS_FILE"
  if [[ -n ${GWMS_NODE_PILOT:-} ]]; then
    gwms_main_node_pilot
    GWMS_LOG_SCRIPT="glidein_startup.sh[n${GWMS_NODE_INDEX}]"
  fi
  gwms_log info "glidein ${GWMS_VERSION} starting on $(uname -n) as $(id -un 2>/dev/null || printf '%s' "$UID") in ${GWMS_WORK_DIR}"
  gwms_main_identity "$now"
  if ((GWMS_NODES > 1)) && [[ -z $GWMS_NODE_INDEX ]]; then
    gwms_main_multinode "$@"
  fi

  if ! gwms_stage_fetch "$GWMS_OPT_MANIFEST_URL" "$GWMS_OPT_MANIFEST_SHA256" "$GWMS_STAGE_DIR"; then
    gwms_main_fail 3 "staging failed, nothing was run: ${GWMS_STAGE_ERROR}"
  fi
  gwms_main_params "$GWMS_STAGE_DIR"

  if release_line=$(gwms_main_condor_locate "$GWMS_STAGE_DIR"); then
    read -r _ _ _ GWMS_CONDOR_LIBEXEC <<<"$release_line"
    export GWMS_CONDOR_LIBEXEC
  else
    release_line=
  fi

  rc=0
  gwms_scripts_run_setup "${GWMS_STAGE_DIR}/scripts.list" "$GWMS_STAGE_DIR" || rc=$?
  case $rc in
    0) ;;
    1)
      GWMS_EXIT_STATUS=1
      gwms_log error "validation failed in ${GWMS_SCRIPTS_FAILED}: node unusable; sleeping ${GWMS_OPT_FAILURE_SLEEP}s (black-hole protection)"
      gwms_log_flush || true
      sleep "$GWMS_OPT_FAILURE_SLEEP" &
      GWMS_SCRIPT_PID=$!
      wait "$GWMS_SCRIPT_PID" || true
      exit 1
      ;;
    *) gwms_main_fail 4 "setup script ${GWMS_SCRIPTS_FAILED} failed: script error" ;;
  esac
  if ((GWMS_OPT_VALIDATE_ONLY)); then
    gwms_log info "validation passed (--validate-only: HTCondor not configured)"
    exit 0
  fi
  if [[ -z $release_line ]]; then
    gwms_main_fail 5 "no HTCondor: no condor tarball staged and no condor_master on PATH"
  fi
  gwms_main_run_condor "$release_line" "$now"
  exit 0
}

main "$@"
