# shellcheck shell=bash
# shellcheck disable=SC2016 # $(NAME) in single quotes is HTCondor macro syntax, not shell
# glidein/lib/condor.sh - HTCondor for the glidein: locate binaries, write the startd-only
# configuration, run condor_master in the foreground.
#
# Sourced library: defines functions, runs nothing. Uses lib/attrs.sh and lib/log.sh.
#
# Attributes read (from GWMS_ATTRS_FILE; defaults in brackets, docs/glidein.md):
#   GLIDEIN_CPUS GLIDEIN_MEMORY GLIDEIN_GPUS    slot size (set by the cpu/memory and GPU
#                                              scripts) [1, 2000, 0]
#   GLIDEIN_Max_Walltime [172800]  GLIDEIN_Shutdown_Grace [300]
#   GLIDEIN_Retire_Margin [Max_Walltime/4]   GLIDEIN_Max_Idle [1200]
#   GLIDEIN_Start GLIDEIN_Entry_Start GLIDECLIENT_Start GLIDECLIENT_Group_Start
#   GLIDEIN_Custom_Start                         START components [all true]
#   GLIDEIN_BLACKHOLE_RATE [0 = off]  GLIDEIN_BLACKHOLE_NUMJOBS [10]
#   GLIDEIN_Use_CCB [false]  GLIDEIN_Use_Shared_Port [false]
#   GLIDEIN_Collector (collector host[:port], from --collector)
# Advertised: every attribute of the attribute file (STARTD_ATTRS), plus GLIDEIN_ToRetire,
#   GLIDEIN_ToDie, GLIDEIN_BLACKHOLE, IS_GLIDEIN.

# gwms_condor_locate RELEASE_CANDIDATE...
# Print "RELEASE_DIR SBIN BIN LIBEXEC" (one line, space separated) for the first
# candidate directory holding condor_master under sbin/ or usr/sbin/; with no candidate
# found, use the condor_master on PATH (an installed HTCondor). Returns 1 when none.
gwms_condor_locate() {
  local cand rel master libexec
  for cand in "$@"; do
    [[ -n $cand && -d $cand ]] || continue
    for rel in "$cand" "${cand}/usr"; do
      if [[ -x ${rel}/sbin/condor_master ]]; then
        libexec=${rel}/libexec
        [[ -d ${rel}/libexec/condor ]] && libexec=${rel}/libexec/condor
        printf '%s %s %s %s\n' "$rel" "${rel}/sbin" "${rel}/bin" "$libexec"
        return 0
      fi
    done
  done
  master=$(command -v condor_master 2>/dev/null) || return 1
  rel=${master%/*}
  rel=${rel%/*}
  [[ -n $rel ]] || rel=/
  libexec=${rel}/libexec
  [[ -d ${rel}/libexec/condor ]] && libexec=${rel}/libexec/condor
  printf '%s %s %s %s\n' "$rel" "${master%/*}" "${rel}/bin" "$libexec"
}

# gwms_condor_extract TARBALL DEST
# Unpack a condor tarball into DEST; print the directory to search for condor_master
# (DEST, or its single top-level directory). Returns 1 when tar fails.
gwms_condor_extract() {
  local tarball=$1 dest=$2
  local -a tops=()
  mkdir -p "$dest"
  tar -xf "$tarball" -C "$dest" 2>&1 || return 1
  mapfile -t tops < <(find "$dest" -mindepth 1 -maxdepth 1)
  if ((${#tops[@]} == 1)) && [[ -d ${tops[0]} && ! -d ${dest}/sbin && ! -d ${dest}/usr ]]; then
    printf '%s' "${tops[0]}"
  else
    printf '%s' "$dest"
  fi
}

# gwms_condor_startd_ended MASTER_LOG
# Succeed when the MasterLog says the startd exited for good (its DAEMON_SHUTDOWN, after
# which the master does not restart it) since it was last started.
gwms_condor_startd_ended() {
  local log=$1 line
  [[ -r $log ]] || return 1
  line=$(grep -E 'Started DaemonCore process ".*condor_startd"|The STARTD \(pid [0-9]+\) exited' \
    "$log" | tail -n 1) || return 1
  [[ $line == *"will not restart"* ]]
}

# gwms_condor_blackhole_report START_LOG
# Print "TIME JOBSTARTS" when the slot ads the startd dumped into its log at shutdown
# (STARTD_PRINT_ADS_ON_SHUTDOWN) show the black-hole latch tripped: the first ad's
# GWMS_BLACKHOLE_NOWTime is later than its GWMS_BLACKHOLE_BASETime. TIME is when the
# rate test last changed (its trip, or its later return to false); JOBSTARTS the jobs
# started in all. Returns 1 when there is no dump or the latch did not trip.
gwms_condor_blackhole_report() {
  local log=$1 now_t base_t starts
  [[ -r $log ]] || return 1
  read -r now_t base_t starts < <(awk '
    /\*\*\* BEGIN AD DUMP \*\*\*/ { dump = 1; next }
    /\*\*\* END AD DUMP \*\*\*/ { dump = 0 }
    dump && /^GWMS_BLACKHOLE_NOWTime = [0-9]+$/ && now == "" { now = $3 }
    dump && /^GWMS_BLACKHOLE_BASETime = [0-9]+$/ && base == "" { base = $3 }
    dump && /^JobStarts = [0-9]+$/ && starts == "" { starts = $3 }
    END { print (now == "" ? "-" : now), (base == "" ? "-" : base), (starts == "" ? 0 : starts) }
  ' "$log")
  [[ $now_t =~ ^[0-9]+$ && $base_t =~ ^[0-9]+$ ]] || return 1
  ((now_t > base_t)) || return 1
  printf '%s %s\n' "$now_t" "$starts"
}

# gwms_condor_config_value VALUE
# VALUE as a ClassAd literal safe in a configuration file ('$' written as $(DOLLAR)).
gwms_condor_config_value() {
  local v
  v=$(gwms_classad_value "$1")
  printf '%s' "${v//\$/\$(DOLLAR)}"
}

# gwms_condor_start_expr [FILE]
# Print the START expression: the conjunction of the non-empty start components
# GLIDEIN_Start, GLIDEIN_Entry_Start, GLIDECLIENT_Start, GLIDECLIENT_Group_Start,
# GLIDEIN_Custom_Start (each in parentheses), then the glidein's own conditions: not
# after GLIDEIN_ToRetire, not while the site drains the node, not after a black-hole
# latch, not while a periodic script reports failure (GWMS_CRON_FAILED, true when any
# GWMS_CRON_<job>_FAILED published by a periodic script is true).
gwms_condor_start_expr() {
  local file=${1:-${GWMS_ATTRS_FILE:-}} key value expr=
  for key in GLIDEIN_Start GLIDEIN_Entry_Start GLIDECLIENT_Start GLIDECLIENT_Group_Start \
    GLIDEIN_Custom_Start; do
    value=$(gwms_attr_get "$key" "$file") || continue
    [[ -n ${value//[[:space:]]/} ]] || continue
    expr+="(${value}) && "
  done
  expr+='(time() < GLIDEIN_ToRetire) && (SiteWMS_WN_Draining =!= true)'
  expr+=' && (GLIDEIN_BLACKHOLE =!= true) && (GWMS_CRON_FAILED =!= true)'
  printf '%s' "$expr"
}

# gwms_condor_times NOW WALLTIME GRACE MARGIN
# Print "TODIE TORETIRE": die = NOW + WALLTIME - GRACE, retire = die - MARGIN; neither
# earlier than NOW + 60 s (a glidein with too short a walltime still registers).
gwms_condor_times() {
  local now=$1 walltime=$2 grace=$3 margin=$4 todie toretire
  todie=$((now + walltime - grace))
  ((todie >= now + 60)) || todie=$((now + 60))
  toretire=$((todie - margin))
  ((toretire >= now + 60)) || toretire=$((now + 60))
  ((toretire <= todie)) || toretire=$todie
  printf '%s %s' "$todie" "$toretire"
}

# gwms_jwt_claim TOKEN_FILE CLAIM
# Print a string claim (e.g. sub, iss) from the payload of the JWT in TOKEN_FILE. Only
# the payload (not secret) is decoded; tracing is off meanwhile. Returns 1 if absent.
gwms_jwt_claim() {
  local file=$1 claim=$2 token payload json xtrace='' rc=1
  [[ $- == *x* ]] && xtrace=1
  { set +x; } 2>/dev/null
  if token=$(gwms_http_read_token "$file"); then
    payload=${token#*.}
    payload=${payload%%.*}
    token=
    payload=${payload//-/+}
    payload=${payload//_//}
    while ((${#payload} % 4)); do payload+='='; done
    if json=$(printf '%s' "$payload" | base64 -d 2>/dev/null) &&
      [[ $json =~ \"${claim}\"[[:space:]]*:[[:space:]]*\"([^\"]*)\" ]]; then
      printf '%s' "${BASH_REMATCH[1]}"
      rc=0
    fi
  fi
  [[ -n $xtrace ]] && set -x
  return "$rc"
}

# gwms_condor_config_render WORK_DIR RELEASE_LINE NOW TOKEN_IDENTITY CRON_LIST [FILE]
# Print the complete condor_config of a startd-only glidein. RELEASE_LINE is the output
# of gwms_condor_locate; NOW the start time (epoch); TOKEN_IDENTITY the token's subject
# (allowed to administer the glidein; may be empty); CRON_LIST a file of
# "<job name> <staged name> <level> <period>" lines for STARTD_CRON.
gwms_condor_config_render() {
  local work=$1 release_line=$2 now=$3 identity=$4 cron_list=$5
  local file=${6:-${GWMS_ATTRS_FILE:-}}
  local rel sbin bin libexec cpus memory gpus walltime grace margin idle todie toretire
  local collector rate numjobs name key value job staged level period failed=
  local -a keys=() jobs=()
  local -A attr=()
  gwms_attrs_load attr "$file"
  read -r rel sbin bin libexec <<<"$release_line"
  cpus=${attr[GLIDEIN_CPUS]:-1}
  memory=${attr[GLIDEIN_MEMORY]:-2000}
  gpus=${attr[GLIDEIN_GPUS]:-0}
  walltime=${attr[GLIDEIN_Max_Walltime]:-172800}
  grace=${attr[GLIDEIN_Shutdown_Grace]:-300}
  margin=${attr[GLIDEIN_Retire_Margin]:-$((walltime / 4))}
  idle=${attr[GLIDEIN_Max_Idle]:-1200}
  collector=${attr[GLIDEIN_Collector]:-}
  rate=${attr[GLIDEIN_BLACKHOLE_RATE]:-0}
  numjobs=${attr[GLIDEIN_BLACKHOLE_NUMJOBS]:-10}
  name=${attr[GLIDEIN_Name]:-glidein_$$}
  for key in cpus memory gpus walltime grace margin idle numjobs; do
    if [[ ! ${!key} =~ ^[0-9]+$ ]]; then
      printf 'glidein attribute for %s is not a whole number: %s\n' "$key" "${!key}" >&2
      return 1
    fi
  done
  if [[ ! $rate =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    printf 'GLIDEIN_BLACKHOLE_RATE is not a number: %s\n' "$rate" >&2
    return 1
  fi
  if [[ -z $collector ]]; then
    printf 'no collector: give --collector HOST[:PORT]\n' >&2
    return 1
  fi
  read -r todie toretire < <(gwms_condor_times "$now" "$walltime" "$grace" "$margin")
  mapfile -t keys < <(gwms_attrs_keys "$file")

  cat <<EOF
# condor_config of a glidein startd, written by glidein_startup.sh (lib/condor.sh).
# Only this file is read: no LOCAL_CONFIG_FILE, no LOCAL_CONFIG_DIR.
RELEASE_DIR = ${rel}
SBIN = ${sbin}
BIN = ${bin}
LIBEXEC = ${libexec}
LOCAL_DIR = ${work}/condor
LOG = \$(LOCAL_DIR)/log
SPOOL = \$(LOCAL_DIR)/spool
EXECUTE = \$(LOCAL_DIR)/execute
LOCK = \$(LOCAL_DIR)/lock
RUN = \$(LOCAL_DIR)/run
LOCAL_CONFIG_FILE =
LOCAL_CONFIG_DIR =
REQUIRE_LOCAL_CONFIG_FILE = false

# Pool
CONDOR_HOST = ${collector}
COLLECTOR_HOST = \$(CONDOR_HOST)
DAEMON_LIST = MASTER, STARTD
MASTER_NAME = ${name}
STARTD_NAME = ${name}
USE_SHARED_PORT = ${attr[GLIDEIN_Use_Shared_Port]:-false}
EOF
  if [[ ${attr[GLIDEIN_Use_CCB]:-false} == true ]]; then
    printf 'CCB_ADDRESS = %s\n' '$(COLLECTOR_HOST)'
  fi
  cat <<EOF

# Security: the startd authenticates with the IDTOKEN it was given (mode 600 copy), and
# runs beside any HTCondor of the node itself.
SEC_TOKEN_DIRECTORY = \$(LOCAL_DIR)/tokens.d
SEC_TOKEN_SYSTEM_DIRECTORY = \$(LOCAL_DIR)/tokens.d
SEC_PASSWORD_DIRECTORY = \$(LOCAL_DIR)/passwords.d
SEC_DEFAULT_AUTHENTICATION = REQUIRED
SEC_DEFAULT_AUTHENTICATION_METHODS = IDTOKENS
SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS
SEC_DEFAULT_INTEGRITY = REQUIRED
SEC_DEFAULT_ENCRYPTION = REQUIRED
SEC_READ_AUTHENTICATION = OPTIONAL
SEC_CLIENT_AUTHENTICATION = OPTIONAL
SEC_ENABLE_MATCH_PASSWORD_AUTHENTICATION = True
SEC_USE_FAMILY_SESSION = False
ALLOW_READ = *
ALLOW_WRITE = *
ALLOW_DAEMON = *
ALLOW_NEGOTIATOR = *
ALLOW_ADMINISTRATOR = ${identity:-nobody@nowhere}
EOF
  cat <<EOF

# Execution inside a batch job (no namespaces; the batch system owns the processes)
MOUNT_UNDER_SCRATCH =
USE_PID_NAMESPACES = false
STARTER_ALLOW_RUNAS_OWNER = false
UPDATE_INTERVAL = 60

# One partitionable slot sized from detection
NUM_CPUS = ${cpus}
MEMORY = ${memory}
NUM_SLOTS = 1
NUM_SLOTS_TYPE_1 = 1
SLOT_TYPE_1 = cpus=100%, memory=100%, disk=100%, swap=100%$( ((gpus > 0)) && printf ', gpus=100%%')
SLOT_TYPE_1_PARTITIONABLE = true
EOF
  if ((gpus > 0)); then
    printf 'use feature : GPUs\n'
  fi
  cat <<EOF

# Lifetime: no new job after GLIDEIN_ToRetire, everything ends at GLIDEIN_ToDie
GLIDEIN_ToDie = ${todie}
GLIDEIN_ToRetire = ${toretire}
GLIDEIN_Max_Idle = ${idle}
IS_GLIDEIN = true
STARTD_NOCLAIM_SHUTDOWN = ${idle}
GWMS_NO_CHILDREN = ifThenElse(isUndefined(NumDynamicSlots), Cpus =?= TotalSlotCpus, NumDynamicSlots == 0)
STARTD.DAEMON_SHUTDOWN = (time() > GLIDEIN_ToDie) || ((PartitionableSlot =?= true) && \$(GWMS_NO_CHILDREN) && ((time() > GLIDEIN_ToRetire) || (GLIDEIN_BLACKHOLE =?= true) || (SiteWMS_WN_Draining =?= true)))
MASTER.DAEMON_SHUTDOWN = (STARTD_StartTime =?= 0)
MASTER_UPDATE_INTERVAL = 60
MAXJOBRETIREMENTTIME = ifThenElse(SiteWMS_WN_Preempt =?= true, 0, GLIDEIN_ToDie - time())
PREEMPT = (SiteWMS_WN_Preempt =?= true) || (time() > GLIDEIN_ToDie)
WANT_SUSPEND = false
SUSPEND = false
KILL = false

# Black-hole protection (docs/glidein.md). GWMS_BLACKHOLE_NOW is the rate test on the
# startd's RecentJobStarts over the time since the glidein started (a literal): the
# startd's DaemonStartTime exists only in the copy of the ad sent to the collector, so
# it is undefined where the startd itself evaluates START and DAEMON_SHUTDOWN. The
# startd's latch machinery publishes when a latch expression last changed (<name>Time).
# NOW starts false; a NOW change later than the first evaluation (the change time of the
# constant GWMS_BLACKHOLE_BASE) means NOW was true once, so GLIDEIN_BLACKHOLE stays true
# for good. Latches are per slot and a dynamic slot made before the trip never sees its
# own NOW change: every slot reads the partitionable slot's (slot1) latch times through
# STARTD_SLOT_ATTRS. CLAIM_WORKLIFE 0 then closes every claim (no claim reuse).
GLIDEIN_BLACKHOLE_RATE = ${rate}
GLIDEIN_BLACKHOLE_NUMJOBS = ${numjobs}
EOF
  if [[ $rate =~ ^0*(\.0*)?$ ]]; then
    printf 'GLIDEIN_BLACKHOLE = false\n'
  else
    cat <<EOF
STATISTICS_WINDOW_SECONDS = 1200
GWMS_BLACKHOLE_ELAPSED = ifThenElse(time() - ${now} < 1200, time() - ${now}, 1200)
GWMS_BLACKHOLE_TEST = (RecentJobStarts >= ${numjobs}) && (RecentJobStarts > ${rate} * \$(GWMS_BLACKHOLE_ELAPSED))
GWMS_BLACKHOLE_NOW = ifThenElse(isUndefined(\$(GWMS_BLACKHOLE_TEST)), false, \$(GWMS_BLACKHOLE_TEST))
GWMS_BLACKHOLE_BASE = true
STARTD_LATCH_EXPRS = GWMS_BLACKHOLE_NOW GWMS_BLACKHOLE_BASE
STARTD_SLOT_ATTRS = \$(STARTD_SLOT_ATTRS) GWMS_BLACKHOLE_NOWTime GWMS_BLACKHOLE_BASETime
GLIDEIN_BLACKHOLE = (GWMS_BLACKHOLE_NOW =?= true) || (slot1_GWMS_BLACKHOLE_NOWTime > slot1_GWMS_BLACKHOLE_BASETime)
CLAIM_WORKLIFE = ifThenElse(GLIDEIN_BLACKHOLE =?= true, 0, -1)
STARTD_ATTRS = \$(STARTD_ATTRS) GWMS_BLACKHOLE_NOW GWMS_BLACKHOLE_BASE
STARTD_PRINT_ADS_ON_SHUTDOWN = true
EOF
  fi
  printf '\nSTART = %s\n' "$(gwms_condor_start_expr "$file")"
  printf '\n# Glidein attributes (GWMS_ATTRS_FILE)\n'
  for key in "${keys[@]}"; do
    gwms_classad_value_to value "${attr[$key]-}"
    printf '%s = %s\n' "$key" "${value//\$/\$(DOLLAR)}"
  done
  printf '%s' 'STARTD_ATTRS = $(STARTD_ATTRS) IS_GLIDEIN GLIDEIN_ToDie GLIDEIN_ToRetire GLIDEIN_Max_Idle GLIDEIN_BLACKHOLE GLIDEIN_BLACKHOLE_RATE GLIDEIN_BLACKHOLE_NUMJOBS'
  for key in "${keys[@]}"; do
    printf ' %s' "$key"
  done
  printf '\n%s\n' 'MASTER_ATTRS = $(MASTER_ATTRS) IS_GLIDEIN GLIDEIN_ToDie GLIDEIN_ToRetire'
  if [[ -s $cron_list ]]; then
    printf '\n# Periodic scripts (startd cron), run through bin/gwms_cron_wrapper\n'
    while read -r job staged level period; do
      [[ -n $job ]] || continue
      jobs+=("$job")
      cat <<EOF
STARTD_CRON_${job}_EXECUTABLE = ${work}/bin/gwms_cron_wrapper
STARTD_CRON_${job}_ARGS = ${job}
STARTD_CRON_${job}_MODE = Periodic
STARTD_CRON_${job}_PERIOD = ${period}
STARTD_CRON_${job}_KILL = true
STARTD_CRON_${job}_CWD = ${work}
# ${staged} (${level})
EOF
    done <"$cron_list"
    printf 'STARTD_CRON_JOBLIST = %s\n' "${jobs[*]}"
    for job in "${jobs[@]}"; do
      failed+="${failed:+ || }(GWMS_CRON_${job}_FAILED =?= true)"
    done
  fi
  printf 'GWMS_CRON_FAILED = %s\n' "${failed:-false}"
  printf '%s\n' 'STARTD_ATTRS = $(STARTD_ATTRS) GWMS_CRON_FAILED'
}
