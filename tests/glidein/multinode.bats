#!/usr/bin/env bats
# glidein/lib/multinode.sh

load helpers

setup() {
  source "${GLIDEIN_DIR}/lib/multinode.sh"
  unset SLURM_JOB_ID SLURM_JOB_NUM_NODES SLURM_PROCID PMI_RANK OMPI_COMM_WORLD_RANK
}

@test "launcher: auto is srun inside a Slurm job, an error outside one" {
  SLURM_JOB_ID=42 run gwms_multinode_launcher auto
  [ "$status" -eq 0 ] && [ "$output" = srun ]
  run gwms_multinode_launcher auto
  [ "$status" -eq 1 ] && [[ $output == *"not in a Slurm job"* ]]
  run gwms_multinode_launcher mpiexec
  [ "$output" = mpiexec ]
  run gwms_multinode_launcher ssh
  [ "$status" -eq 1 ] && [[ $output == *"unknown launcher"* ]]
}

@test "command: srun one task per node, the pilot broadcast to a directory" {
  run gwms_multinode_command srun 3 '/scratch dir/'
  [ "$status" -eq 0 ]
  local -a want=(srun --nodes=3 --ntasks=3 --ntasks-per-node=1 --kill-on-bad-exit=0
    --export=ALL '--bcast=/scratch dir/')
  local -a got
  mapfile -t got <<<"$output"
  [ "${got[*]}" = "${want[*]}" ] && [ "${#got[@]}" -eq "${#want[@]}" ]
  run gwms_multinode_command srun 2 /tmp
  [ "${lines[6]}" = --bcast=/tmp/ ]
}

@test "command: mpiexec one process per node; unknown launcher fails" {
  run gwms_multinode_command mpiexec 2 /tmp
  [ "$output" = "$(printf '%s\n' mpiexec -n 2 -ppn 1)" ]
  run gwms_multinode_command ssh 2 /tmp
  [ "$status" -eq 1 ]
}

@test "index: from SLURM_PROCID (srun), PMI_RANK or OMPI_COMM_WORLD_RANK (mpiexec)" {
  SLURM_PROCID=1 run gwms_multinode_index srun
  [ "$status" -eq 0 ] && [ "$output" = 1 ]
  PMI_RANK=3 run gwms_multinode_index mpiexec
  [ "$output" = 3 ]
  OMPI_COMM_WORLD_RANK=2 run gwms_multinode_index mpiexec
  [ "$output" = 2 ]
  run gwms_multinode_index srun
  [ "$status" -eq 1 ]
  SLURM_PROCID=x run gwms_multinode_index srun
  [ "$status" -eq 1 ]
}

@test "token: export then import gives the same bytes, mode 600, never traced" {
  printf 'header.payload.sig\n' >"$BATS_TEST_TMPDIR/tok"
  (
    set -x
    gwms_multinode_token_export "$BATS_TEST_TMPDIR/tok" GWMS_T
    env | grep -q '^GWMS_T=' # exported
    [[ $GWMS_T != *$'\n'* && $GWMS_T != *header* ]]
    gwms_multinode_token_import GWMS_T "$BATS_TEST_TMPDIR/out"
    [ -z "${GWMS_T+set}" ] # unset after import
  ) 2>"$BATS_TEST_TMPDIR/trace"
  cmp "$BATS_TEST_TMPDIR/tok" "$BATS_TEST_TMPDIR/out"
  [ "$(stat -c %a "$BATS_TEST_TMPDIR/out")" = 600 ]
  ! grep -q "$(base64 -w0 <"$BATS_TEST_TMPDIR/tok")" "$BATS_TEST_TMPDIR/trace"
  grep -q gwms_multinode_token_import "$BATS_TEST_TMPDIR/trace" # the trace was on
}

@test "token: an unreadable file fails and exports nothing" {
  run gwms_multinode_token_export "$BATS_TEST_TMPDIR/absent" GWMS_T
  [ "$status" -eq 1 ]
  [ -z "${GWMS_T+set}" ]
}

@test "nodes: a number as given; auto is SLURM_JOB_NUM_NODES in a Slurm job, else 1" {
  run gwms_multinode_nodes 03
  [ "$output" = 3 ]
  run gwms_multinode_nodes auto
  [ "$output" = 1 ]
  SLURM_JOB_NUM_NODES=4 run gwms_multinode_nodes auto
  [ "$output" = 4 ]
  SLURM_JOB_NUM_NODES=1 run gwms_multinode_nodes auto
  [ "$output" = 1 ]
  SLURM_JOB_NUM_NODES=4 run gwms_multinode_nodes 1 # an explicit count wins
  [ "$output" = 1 ]
}
