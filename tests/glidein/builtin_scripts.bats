#!/usr/bin/env bats
# glidein/scripts/*.sh and glidein/gwms_cron_wrapper.sh, run as the pilot runs them

load helpers

setup() {
  export GWMS_LIB_DIR="${GLIDEIN_DIR}/lib"
  export GWMS_WORK_DIR="$BATS_TEST_TMPDIR"
  export GWMS_ATTRS_FILE="$BATS_TEST_TMPDIR/attrs"
  export GWMS_LOG_FILE="$BATS_TEST_TMPDIR/log.jsonl" GWMS_LOG_STDERR=none
  : >"$GWMS_ATTRS_FILE"
  source "${GLIDEIN_DIR}/lib/attrs.sh"
}

S() { "${GLIDEIN_DIR}/scripts/$1"; }

@test "cpu/memory: auto takes the node, advertises slot size and detection" {
  run S gwms_cpu_memory.sh
  [ "$status" -eq 0 ]
  [ "$(gwms_attr_get GLIDEIN_CPUS)" = "$(nproc)" ]
  local mem
  mem=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
  [ "$(gwms_attr_get GLIDEIN_MEMORY_DETECTED)" = "$mem" ]
}

@test "cpu/memory: configured values win; junk is a script error" {
  gwms_attr_set GLIDEIN_CPUS 1
  gwms_attr_set GLIDEIN_MEMORY 1000
  S gwms_cpu_memory.sh
  [ "$(gwms_attr_get GLIDEIN_CPUS)" = 1 ]
  [ "$(gwms_attr_get GLIDEIN_MEMORY)" = 1000 ]
  gwms_attr_set GLIDEIN_CPUS many
  run S gwms_cpu_memory.sh
  [ "$status" -eq 2 ]
}

@test "cpu/memory: more than a cgroup allows is a validation failure" {
  local root="$BATS_TEST_TMPDIR/root" cg
  cg="$root/sys/fs/cgroup"
  mkdir -p "$root/proc/self" "$cg/job"
  cp /proc/meminfo "$root/proc/meminfo"
  printf 'processor\t: %s\n\n' 0 1 2 3 >"$root/proc/cpuinfo"
  printf '0::/job\n' >"$root/proc/self/cgroup"
  printf 'cpu memory\n' >"$cg/cgroup.controllers"
  printf '200000 100000\n' >"$cg/job/cpu.max"
  printf '1073741824\n' >"$cg/job/memory.max"
  gwms_attr_set GLIDEIN_CPUS 4
  GWMS_SYSROOT=$root run S gwms_cpu_memory.sh
  [ "$status" -eq 1 ] && [[ $output == *"cgroup allows 2"* ]]
  gwms_attr_set GLIDEIN_CPUS auto
  GWMS_SYSROOT=$root S gwms_cpu_memory.sh
  [ "$(gwms_attr_get GLIDEIN_CPUS)" = 2 ]
  [ "$(gwms_attr_get GLIDEIN_MEMORY)" = 1024 ]
}

@test "disk: advertises free space, fails under the minimum" {
  S gwms_disk.sh
  [[ $(gwms_attr_get GLIDEIN_DISK_FREE_MB) =~ ^[0-9]+$ ]]
  gwms_attr_set GLIDEIN_MIN_DISK_MB 999999999
  run S gwms_disk.sh
  [ "$status" -eq 1 ] && [[ $output == *"required"* ]]
}

@test "os: advertises the OS; a required OS that does not match fails" {
  S gwms_os.sh
  local id ver
  id=$(. /etc/os-release && printf '%s' "$ID")
  ver=$(. /etc/os-release && printf '%s' "${VERSION_ID%%.*}")
  [ "$(gwms_attr_get GLIDEIN_OS)" = "${id}${ver}" ]
  [ "$(gwms_attr_get GLIDEIN_ARCH)" = "$(uname -m)" ]
  gwms_attr_set GLIDEIN_REQUIRED_OS "${id}${ver} rhel9"
  S gwms_os.sh
  gwms_attr_set GLIDEIN_REQUIRED_OS "plan9"
  run S gwms_os.sh
  [ "$status" -eq 1 ] && [[ $output == *"not one of: plan9"* ]]
}

@test "gpu: without condor_gpu_discovery, zero GPUs; a required GPU fails" {
  PATH=/usr/bin:/bin GWMS_CONDOR_LIBEXEC=/nonexistent S gwms_gpu.sh
  [ "$(gwms_attr_get GLIDEIN_GPUS)" = 0 ]
  gwms_attr_set GLIDEIN_GPUS 1
  PATH=/usr/bin:/bin GWMS_CONDOR_LIBEXEC=/nonexistent run S gwms_gpu.sh
  [ "$status" -eq 1 ]
}

@test "gpu: condor_gpu_discovery output is counted when GPUs are required" {
  mkdir -p "$BATS_TEST_TMPDIR/libexec"
  # output format of condor_gpu_discovery -properties (recorded from HTCondor docs' example)
  cat >"$BATS_TEST_TMPDIR/libexec/condor_gpu_discovery" <<'G'
#!/bin/sh
echo 'DetectedGPUs="GPU-c4a646d7, GPU-6a96bd13"'
echo 'CUDADeviceName="Tesla V100"'
G
  chmod +x "$BATS_TEST_TMPDIR/libexec/condor_gpu_discovery"
  gwms_attr_set GLIDEIN_GPUS 2
  GWMS_CONDOR_LIBEXEC="$BATS_TEST_TMPDIR/libexec" S gwms_gpu.sh
  [ "$(gwms_attr_get GLIDEIN_GPU_IDS)" = GPU-c4a646d7,GPU-6a96bd13 ]
  [ "$(gwms_attr_get GLIDEIN_GPUS)" = 2 ]
  gwms_attr_set GLIDEIN_GPUS 3
  GWMS_CONDOR_LIBEXEC="$BATS_TEST_TMPDIR/libexec" run S gwms_gpu.sh
  [ "$status" -eq 1 ]
}

@test "container: none on PATH is fine unless required" {
  PATH=/usr/bin:/bin S gwms_container.sh
  if ! command -v apptainer >/dev/null && ! command -v singularity >/dev/null; then
    [ "$(gwms_attr_get HAS_SINGULARITY)" = false ]
    gwms_attr_set GLIDEIN_REQUIRE_CONTAINER true
    PATH=/usr/bin:/bin run S gwms_container.sh
    [ "$status" -eq 1 ]
  fi
}

@test "drain: drain file -> draining; preempt file -> both" {
  gwms_attr_set GLIDEIN_DRAIN_FILE "$BATS_TEST_TMPDIR/drain"
  gwms_attr_set GLIDEIN_PREEMPT_FILE "$BATS_TEST_TMPDIR/preempt"
  S gwms_drain.sh
  [ "$(gwms_attr_get SiteWMS_WN_Draining)" = false ]
  touch "$BATS_TEST_TMPDIR/drain"
  S gwms_drain.sh
  [ "$(gwms_attr_get SiteWMS_WN_Draining)" = true ]
  [ "$(gwms_attr_get SiteWMS_WN_Preempt)" = false ]
  touch "$BATS_TEST_TMPDIR/preempt"
  S gwms_drain.sh
  [ "$(gwms_attr_get SiteWMS_WN_Preempt)" = true ]
}

# cron_work: a work dir laid out as glidein_startup.sh leaves it
cron_work() {
  W="$BATS_TEST_TMPDIR/work"
  mkdir -p "$W/bin" "$W/cron" "$W/log" "$W/stage/vo"
  cp "${GLIDEIN_DIR}/gwms_cron_wrapper.sh" "$W/bin/gwms_cron_wrapper"
  cp -r "${GLIDEIN_DIR}/lib" "$W/stage/lib"
  printf 'GLIDEIN_Site=X\n' >"$W/glidein.attrs"
}

@test "cron wrapper: a passing periodic script's attributes come out as a ClassAd" {
  cron_work
  printf '#!/bin/bash\nprintf "LOAD_OK=%%s\\nSITE_SEEN=%%s\\n" 1 "$(grep -c GLIDEIN_Site= "$GWMS_ATTRS_FILE")" >>"$GWMS_ATTRS_FILE"\n' >"$W/stage/vo/p.sh"
  chmod +x "$W/stage/vo/p.sh"
  printf 'vo/p.sh group\n' >"$W/cron/GWMS1"
  run "$W/bin/gwms_cron_wrapper" GWMS1
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 'LOAD_OK = 1' ]
  [ "${lines[1]}" = 'SITE_SEEN = 1' ]
  [ "${lines[2]}" = 'GWMS_CRON_GWMS1_FAILED = false' ]
  [ "${lines[3]}" = 'GWMS_CRON_GWMS1_STATUS = 0' ]
  [ ! -s "$W/log/glidein.jsonl" ]
  [ "$(wc -l <"$W/glidein.attrs")" -eq 1 ]
}

@test "cron wrapper: a failing periodic script sets its FAILED flag and logs its output" {
  cron_work
  printf '#!/bin/bash\necho "scratch vanished"\nexit 1\n' >"$W/stage/vo/f.sh"
  chmod +x "$W/stage/vo/f.sh"
  printf 'vo/f.sh frontend\n' >"$W/cron/GWMS2"
  run "$W/bin/gwms_cron_wrapper" GWMS2
  [ "$status" -eq 0 ]
  [[ $output == *'GWMS_CRON_GWMS2_FAILED = true'* ]]
  [ "$(json_get "$W/log/glidein.jsonl" 1 script)" = vo/f.sh ]
  json_get "$W/log/glidein.jsonl" 1 file data | base64 -d | gzip -dc | grep -q 'scratch vanished'
}

@test "cron wrapper: unknown job names are refused" {
  cron_work
  run "$W/bin/gwms_cron_wrapper" '../x'
  [ "$status" -eq 2 ]
  run "$W/bin/gwms_cron_wrapper" NOPE
  [ "$status" -eq 2 ]
}
