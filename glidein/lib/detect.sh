# shellcheck shell=bash
# glidein/lib/detect.sh - what this node offers: CPUs, memory, cgroup limits.
#
# Sourced library: defines functions, runs nothing.
# GWMS_SYSROOT (default empty) prefixes /proc and /sys paths, so tests can point the
# functions at a recorded tree.

# gwms_detect_nproc
# Print the CPUs this process may use (nproc honours the affinity mask), falling back
# to /proc/cpuinfo and getconf.
gwms_detect_nproc() {
  local root=${GWMS_SYSROOT:-} n
  if [[ -z $root ]] && command -v nproc >/dev/null 2>&1 && n=$(nproc 2>/dev/null) &&
    [[ $n =~ ^[0-9]+$ ]]; then
    printf '%s' "$n"
    return 0
  fi
  if [[ -r ${root}/proc/cpuinfo ]]; then
    n=$(grep -c '^processor' "${root}/proc/cpuinfo" || true)
    if [[ $n =~ ^[0-9]+$ ]] && ((n > 0)); then
      printf '%s' "$n"
      return 0
    fi
  fi
  if [[ -z $root ]] && n=$(getconf _NPROCESSORS_ONLN 2>/dev/null) && [[ $n =~ ^[0-9]+$ ]]; then
    printf '%s' "$n"
    return 0
  fi
  printf '1'
}

# gwms_detect_mem_total_mb
# Print MemTotal of /proc/meminfo in MiB (floor); return 1 when unreadable.
gwms_detect_mem_total_mb() {
  local root=${GWMS_SYSROOT:-} key value
  [[ -r ${root}/proc/meminfo ]] || return 1
  while read -r key value _; do
    if [[ $key == MemTotal: && $value =~ ^[0-9]+$ ]]; then
      printf '%d' "$((value / 1024))"
      return 0
    fi
  done <"${root}/proc/meminfo"
  return 1
}

# gwms_detect_cgroup_paths
# Print, one per line, the cgroup directories of this process from its own cgroup up to
# the root: for cgroup v2 "<sysfs>/fs/cgroup/<path>", for v1 the "memory" and "cpu"
# controller directories prefixed by "memory:" and "cpu:".
gwms_detect_cgroup_paths() {
  local root=${GWMS_SYSROOT:-} line id ctrls path base dir
  [[ -r ${root}/proc/self/cgroup ]] || return 0
  while IFS= read -r line; do
    id=${line%%:*}
    line=${line#*:}
    ctrls=${line%%:*}
    path=${line#*:}
    if [[ $id == 0 && -z $ctrls ]]; then
      base=${root}/sys/fs/cgroup
      [[ -f ${base}/cgroup.controllers ]] || continue
      dir=${path%/}
      while :; do
        printf 'v2:%s%s\n' "$base" "$dir"
        [[ -z $dir ]] && break
        dir=${dir%/*}
      done
    else
      local c
      for c in ${ctrls//,/ }; do
        case $c in
          memory | cpu)
            for base in "${root}/sys/fs/cgroup/${ctrls}" "${root}/sys/fs/cgroup/${c}"; do
              [[ -d $base ]] || continue
              dir=${path%/}
              while :; do
                printf '%s:%s%s\n' "$c" "$base" "$dir"
                [[ -z $dir ]] && break
                dir=${dir%/*}
              done
              break
            done
            ;;
        esac
      done
    fi
  done <"${root}/proc/self/cgroup"
}

# gwms_detect_cgroup_cpus
# Print the CPU limit from cgroup quotas (ceil(quota/period), smallest along the path);
# return 1 when there is none.
gwms_detect_cgroup_cpus() {
  local entry kind dir quota period n best=
  while IFS= read -r entry; do
    kind=${entry%%:*}
    dir=${entry#*:}
    quota=
    period=
    if [[ $kind == v2 && -r ${dir}/cpu.max ]]; then
      read -r quota period <"${dir}/cpu.max" || true
    elif [[ $kind == cpu && -r ${dir}/cpu.cfs_quota_us && -r ${dir}/cpu.cfs_period_us ]]; then
      read -r quota <"${dir}/cpu.cfs_quota_us" || true
      read -r period <"${dir}/cpu.cfs_period_us" || true
    fi
    if [[ ! $quota =~ ^[0-9]+$ || ! $period =~ ^[0-9]+$ ]] || ((quota == 0 || period == 0)); then
      continue
    fi
    n=$(((quota + period - 1) / period))
    if [[ -z $best ]] || ((n < best)); then
      best=$n
    fi
  done < <(gwms_detect_cgroup_paths)
  [[ -n $best ]] || return 1
  printf '%s' "$best"
}

# gwms_detect_cgroup_mem_mb
# Print the memory limit from cgroups in MiB (smallest along the path; v1 values of
# 2^62 or more mean "no limit"); return 1 when there is none.
gwms_detect_cgroup_mem_mb() {
  local entry kind dir value n best=
  while IFS= read -r entry; do
    kind=${entry%%:*}
    dir=${entry#*:}
    value=
    if [[ $kind == v2 && -r ${dir}/memory.max ]]; then
      read -r value <"${dir}/memory.max" || true
    elif [[ $kind == memory && -r ${dir}/memory.limit_in_bytes ]]; then
      read -r value <"${dir}/memory.limit_in_bytes" || true
    fi
    [[ $value =~ ^[0-9]+$ ]] || continue
    # 2^62 and above: the v1 "unlimited" value (page-rounded LONG_MAX)
    ((${#value} < 19 || value < 4611686018427387904)) || continue
    n=$((value / 1048576))
    if [[ -z $best ]] || ((n < best)); then
      best=$n
    fi
  done < <(gwms_detect_cgroup_paths)
  [[ -n $best ]] || return 1
  printf '%s' "$best"
}

# gwms_detect_resolve CONFIGURED DETECTED
# Apply a configured size to a detected one: "auto", "node" or empty -> DETECTED; a
# number -> that number. Returns 1 on anything else.
gwms_detect_resolve() {
  local configured=${1:-auto} detected=$2
  case ${configured,,} in
    auto | node | "") printf '%s' "$detected" ;;
    *)
      [[ $configured =~ ^[0-9]+$ ]] || return 1
      printf '%s' "$configured"
      ;;
  esac
}
