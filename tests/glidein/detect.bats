#!/usr/bin/env bats
# glidein/lib/detect.sh, against sysroot trees in the kernel's file formats

load helpers

setup() {
  source "${GLIDEIN_DIR}/lib/detect.sh"
  ROOT="$BATS_TEST_TMPDIR/root"
  mkdir -p "$ROOT/proc/self"
  cat >"$ROOT/proc/meminfo" <<'M'
MemTotal:       16384000 kB
MemFree:         8000000 kB
MemAvailable:   12000000 kB
M
  printf 'processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\n\nprocessor\t: 2\n\nprocessor\t: 3\n' >"$ROOT/proc/cpuinfo"
}

# v2 tree: job cgroup /slurm/job_7/step_batch with limits on the job level
v2_tree() {
  printf '0::/slurm/job_7/step_batch\n' >"$ROOT/proc/self/cgroup"
  local cg="$ROOT/sys/fs/cgroup"
  mkdir -p "$cg/slurm/job_7/step_batch"
  printf 'cpu memory pids\n' >"$cg/cgroup.controllers"
  printf 'max 100000\n' >"$cg/slurm/job_7/step_batch/cpu.max"
  printf 'max\n' >"$cg/slurm/job_7/step_batch/memory.max"
  printf '250000 100000\n' >"$cg/slurm/job_7/cpu.max"
  printf '4294967296\n' >"$cg/slurm/job_7/memory.max"
}

# v1 tree, like this machine's: memory and cpu,cpuacct controllers
v1_tree() {
  printf '12:memory:/batch/job1\n4:cpu,cpuacct:/batch/job1\n0::/\n' >"$ROOT/proc/self/cgroup"
  local cg="$ROOT/sys/fs/cgroup"
  mkdir -p "$cg/memory/batch/job1" "$cg/cpu,cpuacct/batch/job1"
  printf '9223372036854771712\n' >"$cg/memory/memory.limit_in_bytes"
  printf '2147483648\n' >"$cg/memory/batch/job1/memory.limit_in_bytes"
  printf '9223372036854771712\n' >"$cg/memory/batch/memory.limit_in_bytes"
  printf '%s\n' -1 >"$cg/cpu,cpuacct/batch/job1/cpu.cfs_quota_us"
  printf '100000\n' >"$cg/cpu,cpuacct/batch/job1/cpu.cfs_period_us"
  printf '300000\n' >"$cg/cpu,cpuacct/batch/cpu.cfs_quota_us"
  printf '100000\n' >"$cg/cpu,cpuacct/batch/cpu.cfs_period_us"
}

@test "nproc and MemTotal from the sysroot" {
  export GWMS_SYSROOT=$ROOT
  [ "$(gwms_detect_nproc)" = 4 ]
  [ "$(gwms_detect_mem_total_mb)" = 16000 ]
}

@test "nproc of this machine is a positive number" {
  run gwms_detect_nproc
  [[ $output =~ ^[1-9][0-9]*$ ]]
}

@test "cgroup v2: limits found on a parent, ceil of quota/period" {
  v2_tree
  export GWMS_SYSROOT=$ROOT
  [ "$(gwms_detect_cgroup_cpus)" = 3 ]
  [ "$(gwms_detect_cgroup_mem_mb)" = 4096 ]
}

@test "cgroup v1: unlimited values ignored, smallest limit wins" {
  v1_tree
  export GWMS_SYSROOT=$ROOT
  [ "$(gwms_detect_cgroup_mem_mb)" = 2048 ]
  [ "$(gwms_detect_cgroup_cpus)" = 3 ]
}

@test "no cgroup limits: both return 1" {
  printf '0::/\n' >"$ROOT/proc/self/cgroup"
  mkdir -p "$ROOT/sys/fs/cgroup" && printf 'cpu memory\n' >"$ROOT/sys/fs/cgroup/cgroup.controllers"
  printf 'max 100000\n' >"$ROOT/sys/fs/cgroup/cpu.max"
  printf 'max\n' >"$ROOT/sys/fs/cgroup/memory.max"
  export GWMS_SYSROOT=$ROOT
  run gwms_detect_cgroup_cpus
  [ "$status" -eq 1 ]
  run gwms_detect_cgroup_mem_mb
  [ "$status" -eq 1 ]
}

@test "resolve: auto/node/empty take the detected value, numbers win, junk fails" {
  [ "$(gwms_detect_resolve auto 8)" = 8 ]
  [ "$(gwms_detect_resolve NODE 8)" = 8 ]
  [ "$(gwms_detect_resolve '' 8)" = 8 ]
  [ "$(gwms_detect_resolve 2 8)" = 2 ]
  run gwms_detect_resolve lots 8
  [ "$status" -eq 1 ]
}
