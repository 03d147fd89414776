# shellcheck shell=bash
# shellcheck disable=SC2034 # the GWMS_OPT_* globals are this library's output
# glidein/lib/args.sh - command line of glidein_startup.sh.
#
# Sourced library: defines functions, runs nothing.
# gwms_args_parse sets the GWMS_OPT_* globals listed in gwms_args_usage.

# gwms_args_usage
# Print the usage text.
gwms_args_usage() {
  cat <<'EOF'
Usage: glidein_startup.sh --manifest-url URL --manifest-sha256 HEX [options]

Staging (required):
  --manifest-url URL        URL of manifest.sha256 in the staging area; files are
                            fetched relative to it
  --manifest-sha256 HEX     sha256 of manifest.sha256 (64 hex digits)
Identity (advertised, and used in log records):
  --factory NAME            factory name            (GLIDEIN_Factory)
  --entry NAME              factory entry name      (GLIDEIN_Entry_Name)
  --frontend NAME           frontend name           (GLIDEIN_Client)
  --group NAME              frontend group          (GLIDECLIENT_Group)
  --site NAME               site name               (GLIDEIN_Site)
  --glidein-id ID           unique id of this glidein (GLIDEIN_Id; default: host-pid-time)
Factory job (advertised; the frontend reports glideins in the pool by these):
  --schedd NAME             factory schedd's Name (GLIDEIN_Schedd)
  --cluster N               the glidein's ClusterId in the factory queue (GLIDEIN_ClusterId)
  --proc N                  the glidein's ProcId in the factory queue (GLIDEIN_ProcId)
  --credential-id ID        the factory's GlideinCredentialIdentifier of this glidein
                            (GLIDEIN_CredentialIdentifier)
Pool:
  --collector HOST[:PORT]   collector the startd reports to (CONDOR_HOST)
  --token-file FILE         IDTOKEN the startd authenticates with (copied, mode 600)
Resources and lifetime:
  --walltime SECONDS        site walltime of this job (GLIDEIN_Max_Walltime)
  --param KEY=VALUE         set a glidein parameter (repeatable; overrides glidein.params)
Multi-node (one batch job, one startd per node; lib/multinode.sh):
  --nodes N|auto            nodes of this batch job; with N > 1 this pilot starts one
                            node pilot per node with the launcher and waits for them
                            (default auto: SLURM_JOB_NUM_NODES inside a Slurm job, else 1)
  --launcher NAME           srun, mpiexec or auto (default: srun inside a Slurm job)
Logging:
  --log-url URL             log server URL the JSON log is POSTed to
  --log-token-file FILE     bearer token for --log-url
Behaviour:
  --work-dir DIR            parent of the private work directory (default: $TMPDIR,
                            the current directory, then /tmp; first writable one)
  --validate-only           stop after validation, before HTCondor is configured
  --configure-only          write the HTCondor configuration, do not start it
  --failure-sleep SECONDS   on validation failure sleep this long before exiting
                            (black-hole protection; default 600)
  --keep-work-dir           do not remove the work directory at exit (debugging)
  --debug                   trace every command (xtrace) and keep the work directory
  -h, --help                this text
  --version                 print the version
EOF
}

# gwms_args_need NAME VALUE_COUNT
# Fail (return 2) with a message when an option has no value.
gwms_args_need() {
  if (($2 < 2)); then
    printf 'glidein_startup.sh: option %s needs a value\n' "$1" >&2
    return 2
  fi
}

# gwms_args_is_uint VALUE
gwms_args_is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# gwms_args_parse ARG...
# Parse the command line into GWMS_OPT_* globals and the GWMS_OPT_PARAMS array.
# Returns 0 on success, 2 on a usage error (message on stderr), 3 after --help/--version
# (text printed; the caller exits 0).
gwms_args_parse() {
  GWMS_OPT_MANIFEST_URL=
  GWMS_OPT_MANIFEST_SHA256=
  GWMS_OPT_FACTORY=
  GWMS_OPT_ENTRY=
  GWMS_OPT_FRONTEND=
  GWMS_OPT_GROUP=
  GWMS_OPT_SITE=
  GWMS_OPT_GLIDEIN_ID=
  GWMS_OPT_SCHEDD=
  GWMS_OPT_CLUSTER=
  GWMS_OPT_PROC=
  GWMS_OPT_CREDENTIAL_ID=
  GWMS_OPT_COLLECTOR=
  GWMS_OPT_TOKEN_FILE=
  GWMS_OPT_WALLTIME=
  GWMS_OPT_LOG_URL=
  GWMS_OPT_LOG_TOKEN_FILE=
  GWMS_OPT_WORK_DIR=
  GWMS_OPT_VALIDATE_ONLY=0
  GWMS_OPT_CONFIGURE_ONLY=0
  GWMS_OPT_FAILURE_SLEEP=600
  GWMS_OPT_KEEP_WORK_DIR=0
  GWMS_OPT_DEBUG=0
  GWMS_OPT_NODES=auto
  GWMS_OPT_LAUNCHER=auto
  GWMS_OPT_PARAMS=()
  local opt value
  while (($# > 0)); do
    opt=$1
    value=
    if [[ $opt == --*=* ]]; then
      value=${opt#*=}
      opt=${opt%%=*}
      shift
      set -- "$opt" "$value" "$@"
    fi
    case $opt in
      -h | --help)
        gwms_args_usage
        return 3
        ;;
      --version)
        printf 'glidein_startup.sh %s\n' "${GWMS_VERSION:-unknown}"
        return 3
        ;;
      --validate-only) GWMS_OPT_VALIDATE_ONLY=1 ;;
      --configure-only) GWMS_OPT_CONFIGURE_ONLY=1 ;;
      --keep-work-dir) GWMS_OPT_KEEP_WORK_DIR=1 ;;
      --debug)
        GWMS_OPT_DEBUG=1
        GWMS_OPT_KEEP_WORK_DIR=1
        ;;
      --manifest-url | --manifest-sha256 | --factory | --entry | --frontend | --group | \
        --site | --glidein-id | --schedd | --cluster | --proc | --credential-id | --collector | --token-file | --walltime | --log-url | \
        --log-token-file | --work-dir | --failure-sleep | --param | --nodes | --launcher)
        gwms_args_need "$opt" "$#" || return 2
        value=$2
        shift
        case $opt in
          --manifest-url) GWMS_OPT_MANIFEST_URL=$value ;;
          --manifest-sha256) GWMS_OPT_MANIFEST_SHA256=${value,,} ;;
          --factory) GWMS_OPT_FACTORY=$value ;;
          --entry) GWMS_OPT_ENTRY=$value ;;
          --frontend) GWMS_OPT_FRONTEND=$value ;;
          --group) GWMS_OPT_GROUP=$value ;;
          --site) GWMS_OPT_SITE=$value ;;
          --glidein-id) GWMS_OPT_GLIDEIN_ID=$value ;;
          --schedd) GWMS_OPT_SCHEDD=$value ;;
          --cluster) GWMS_OPT_CLUSTER=$value ;;
          --proc) GWMS_OPT_PROC=$value ;;
          --credential-id) GWMS_OPT_CREDENTIAL_ID=$value ;;
          --collector) GWMS_OPT_COLLECTOR=$value ;;
          --token-file) GWMS_OPT_TOKEN_FILE=$value ;;
          --walltime) GWMS_OPT_WALLTIME=$value ;;
          --log-url) GWMS_OPT_LOG_URL=$value ;;
          --log-token-file) GWMS_OPT_LOG_TOKEN_FILE=$value ;;
          --work-dir) GWMS_OPT_WORK_DIR=$value ;;
          --failure-sleep) GWMS_OPT_FAILURE_SLEEP=$value ;;
          --nodes) GWMS_OPT_NODES=$value ;;
          --launcher) GWMS_OPT_LAUNCHER=$value ;;
          --param)
            if [[ ! $value =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
              printf 'glidein_startup.sh: --param expects KEY=VALUE, got %q\n' "$value" >&2
              return 2
            fi
            GWMS_OPT_PARAMS+=("$value")
            ;;
        esac
        ;;
      *)
        printf 'glidein_startup.sh: unknown argument %q (see --help)\n' "$opt" >&2
        return 2
        ;;
    esac
    shift
  done
  if [[ -z $GWMS_OPT_MANIFEST_URL ]]; then
    printf 'glidein_startup.sh: --manifest-url is required\n' >&2
    return 2
  fi
  if [[ ! $GWMS_OPT_MANIFEST_SHA256 =~ ^[0-9a-f]{64}$ ]]; then
    printf 'glidein_startup.sh: --manifest-sha256 must be 64 hex digits\n' >&2
    return 2
  fi
  if [[ -n $GWMS_OPT_WALLTIME ]] && ! gwms_args_is_uint "$GWMS_OPT_WALLTIME"; then
    printf 'glidein_startup.sh: --walltime must be a number of seconds\n' >&2
    return 2
  fi
  local idopt
  for idopt in cluster proc; do
    value=GWMS_OPT_${idopt^^}
    if [[ -n ${!value} ]] && ! gwms_args_is_uint "${!value}"; then
      printf 'glidein_startup.sh: --%s must be a whole number\n' "$idopt" >&2
      return 2
    fi
  done
  if ! gwms_args_is_uint "$GWMS_OPT_FAILURE_SLEEP"; then
    printf 'glidein_startup.sh: --failure-sleep must be a number of seconds\n' >&2
    return 2
  fi
  if [[ $GWMS_OPT_NODES != auto ]]; then
    if ! gwms_args_is_uint "$GWMS_OPT_NODES" || ((10#$GWMS_OPT_NODES < 1)); then
      printf 'glidein_startup.sh: --nodes must be auto or a whole number of at least 1\n' >&2
      return 2
    fi
    GWMS_OPT_NODES=$((10#$GWMS_OPT_NODES))
  fi
  case $GWMS_OPT_LAUNCHER in
    srun | mpiexec | auto) ;;
    *)
      printf 'glidein_startup.sh: --launcher must be srun, mpiexec or auto\n' >&2
      return 2
      ;;
  esac
  return 0
}
