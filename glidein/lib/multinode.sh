# shellcheck shell=bash
# glidein/lib/multinode.sh - multi-node glideins: one batch job, one startd per node.
#
# Sourced library: defines functions, runs nothing.
#
# The pilot started by the batch system (the leader) does not stage or validate: it
# runs one copy of itself per node through the site's launcher and waits for all of
# them. Each copy (a node pilot) is an ordinary single-node glidein with its own work
# directory, its own startd and the node's index (GLIDEIN_Node_Index, 0-based) in its
# name and identity. Files named on the command line may not exist on the other nodes:
# the leader passes the IDTOKEN(s) to the node pilots in the environment
# (GWMS_MULTINODE_TOKEN, GWMS_MULTINODE_LOG_TOKEN, base64), which each node pilot moves
# into its work directory (mode 600) and removes from its environment at once.
#
# Launchers (--launcher):
#   srun     Slurm: srun --nodes=N --ntasks=N --ntasks-per-node=1, the pilot copied to
#            each node with --bcast; node index from SLURM_PROCID
#   mpiexec  MPICH/Hydra style: mpiexec -n N -ppn 1; index from PMI_RANK
#   auto     srun inside a Slurm job (SLURM_JOB_ID set), else an error

# gwms_multinode_nodes REQUESTED
# Print the node count: REQUESTED when it is a number; for auto, SLURM_JOB_NUM_NODES
# inside a Slurm job (the site gave this job that many nodes), else 1.
gwms_multinode_nodes() {
  if [[ $1 =~ ^[0-9]+$ ]]; then
    printf '%d\n' "$((10#$1))"
  elif [[ ${SLURM_JOB_NUM_NODES:-} =~ ^[0-9]+$ ]] && ((10#$SLURM_JOB_NUM_NODES > 1)); then
    printf '%d\n' "$((10#$SLURM_JOB_NUM_NODES))"
  else
    printf '1\n'
  fi
}

# gwms_multinode_launcher REQUESTED
# Print the launcher to use: REQUESTED when it is srun or mpiexec; for auto, srun when
# running inside a Slurm job. Returns 1 (message on stderr) when none applies.
gwms_multinode_launcher() {
  case $1 in
    srun | mpiexec)
      printf '%s\n' "$1"
      ;;
    auto | '')
      if [[ -n ${SLURM_JOB_ID:-} ]]; then
        printf 'srun\n'
      else
        printf 'no launcher for a multi-node glidein: not in a Slurm job (give --launcher)\n' >&2
        return 1
      fi
      ;;
    *)
      printf 'unknown launcher %q (srun, mpiexec, auto)\n' "$1" >&2
      return 1
      ;;
  esac
}

# gwms_multinode_command LAUNCHER NODES BCAST_DIR
# Print the launcher's command line, one word per line, up to (not including) the
# program: the program and its arguments follow. BCAST_DIR (srun) is the directory on
# each node the pilot is copied to (a name ending in / makes srun add job, step and
# node to the file name).
gwms_multinode_command() {
  local launcher=$1 nodes=$2 bcast=$3
  case $launcher in
    srun)
      printf '%s\n' srun "--nodes=${nodes}" "--ntasks=${nodes}" --ntasks-per-node=1 \
        --kill-on-bad-exit=0 --export=ALL "--bcast=${bcast%/}/"
      ;;
    mpiexec)
      printf '%s\n' mpiexec -n "$nodes" -ppn 1
      ;;
    *) return 1 ;;
  esac
}

# gwms_multinode_index LAUNCHER
# Print this node pilot's 0-based index as the launcher set it in the environment.
# Returns 1 when it is missing or not a number.
gwms_multinode_index() {
  local v
  case $1 in
    srun) v=${SLURM_PROCID:-} ;;
    mpiexec) v=${PMI_RANK:-${OMPI_COMM_WORLD_RANK:-}} ;;
    *) return 1 ;;
  esac
  [[ $v =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$v"
}

# gwms_multinode_token_export FILE VAR
# Export VAR holding FILE's content base64-encoded on one line. The value never appears
# in a trace (tracing is off meanwhile, and it is not passed as an argument).
gwms_multinode_token_export() {
  local file=$1 var=$2 xtrace='' rc=0 value
  [[ $- == *x* ]] && xtrace=1
  { set +x; } 2>/dev/null
  if value=$(base64 -w0 <"$file"); then
    printf -v "$var" '%s' "$value"
    export "${var?}"
  else
    rc=1
  fi
  value=
  [[ -n $xtrace ]] && set -x
  return "$rc"
}

# gwms_multinode_token_import VAR FILE
# Write the base64 value of the environment variable VAR decoded into FILE (mode 600),
# then unset VAR. Tracing is off meanwhile.
gwms_multinode_token_import() {
  local var=$1 file=$2 xtrace='' rc=0
  [[ $- == *x* ]] && xtrace=1
  { set +x; } 2>/dev/null
  (umask 077 && printf '%s' "${!var:-}" | base64 -d >"$file") || rc=$?
  unset "$var"
  [[ -n $xtrace ]] && set -x
  return "$rc"
}
