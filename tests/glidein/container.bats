#!/usr/bin/env bats
# glidein/lib/container.sh and glidein/scripts/gwms_container.sh.
#
# The runtime here is a stand-in script named apptainer (Apptainer itself runs only on
# the podman grid: tests/e2e/test_containers_acceptance.py); it answers --version and
# succeeds or fails `exec` as FAKE_USERNS / FAKE_SETUID say, so every branch of the
# detection is exercised.

load helpers

setup() {
  export GWMS_LIB_DIR="${GLIDEIN_DIR}/lib"
  export GWMS_WORK_DIR="$BATS_TEST_TMPDIR/work"
  export GWMS_ATTRS_FILE="$BATS_TEST_TMPDIR/attrs"
  export GWMS_LOG_FILE="$BATS_TEST_TMPDIR/log.jsonl" GWMS_LOG_STDERR=none
  mkdir -p "$GWMS_WORK_DIR" "$BATS_TEST_TMPDIR/bin" "$BATS_TEST_TMPDIR/img/bin"
  : >"$GWMS_ATTRS_FILE"
  source "${GLIDEIN_DIR}/lib/attrs.sh"
  source "${GLIDEIN_DIR}/lib/container.sh"
  IMG="$BATS_TEST_TMPDIR/img"
  cat >"$BATS_TEST_TMPDIR/bin/apptainer" <<'SH'
#!/bin/bash
[[ $1 == --version ]] && { echo "apptainer version 1.4.1-1"; exit 0; }
[[ $1 == -s ]] && shift
[[ $1 == exec || $1 == test ]] || exit 2
shift
if [[ " $* " == *" --userns "* ]]; then
  [[ ${FAKE_USERNS:-1} == 1 ]] || { echo "FATAL: user namespaces not available" >&2; exit 255; }
else
  [[ ${FAKE_SETUID:-0} == 1 ]] || { echo "FATAL: no setuid starter" >&2; exit 255; }
fi
[[ " $* " != *" --pid "* || ${FAKE_PIDNS:-1} == 1 ]] || { echo "FATAL: no pid ns" >&2; exit 255; }
args=("$@")
while [[ ${1:-} == -* ]]; do [[ $1 == -B ]] && shift; shift; done
[[ -e ${1:-} ]] || { echo "FATAL: image ${1:-} not found" >&2; exit 255; }
set -- "${args[@]}"
echo "$@" >>"${FAKE_CALLS:-/dev/null}"
SH
  chmod +x "$BATS_TEST_TMPDIR/bin/apptainer"
}

S() { "${GLIDEIN_DIR}/scripts/gwms_container.sh"; }
with_fake() { PATH="$BATS_TEST_TMPDIR/bin:/usr/bin:/bin" "$@"; }
fragment() { cat "$GWMS_WORK_DIR/condor_config.d/50-container.config"; }

@test "combine: the policy table, as gwms_core.containers.combine" {
  local vo entry expected i
  local -a words=(never optional preferred required)
  local -A table=(
    [never]="none none none conflict"
    [optional]="none optional preferred required"
    [preferred]="none preferred preferred required"
    [required]="conflict required required required"
  )
  for vo in "${words[@]}"; do
    read -r -a row <<<"${table[$vo]}"
    for i in 0 1 2 3; do
      entry=${words[$i]}
      expected=${row[$i]}
      [ "$(gwms_container_combine "$vo" "$entry")" = "$expected" ]
      [ "$(gwms_container_combine "${vo^^}" "$entry")" = "$expected" ]
    done
  done
  run gwms_container_combine always optional
  [ "$status" -eq 1 ]
}

@test "find and version: configured path, then apptainer, then singularity" {
  [ "$(with_fake gwms_container_find)" = "apptainer $BATS_TEST_TMPDIR/bin/apptainer" ]
  cp "$BATS_TEST_TMPDIR/bin/apptainer" "$BATS_TEST_TMPDIR/singularity"
  [ "$(with_fake gwms_container_find "$BATS_TEST_TMPDIR/singularity")" = "singularity $BATS_TEST_TMPDIR/singularity" ]
  run gwms_container_find "$BATS_TEST_TMPDIR/nope"
  [ "$status" -eq 1 ]
  PATH=/nonexistent run gwms_container_find
  [ "$status" -eq 1 ]
  [ "$(gwms_container_version "$BATS_TEST_TMPDIR/bin/apptainer")" = 1.4.1-1 ]
  run gwms_container_version /bin/false
  [ "$status" -eq 1 ]
}

@test "image map: name:image items, docker URIs keep their colons, junk is reported" {
  run gwms_container_images_parse "default:/a, el9:docker://x/y:1 ,,"
  [ "$status" -eq 0 ]
  [ "$output" = $'default /a\nel9 docker://x/y:1' ]
  run gwms_container_images_parse "default:/a,noimage,:x"
  [ "$status" -eq 1 ]
  [ "$output" = "default /a" ]
}

@test "allow-list: prefix match, star, no '..'" {
  gwms_container_allowed /cvmfs/x /cvmfs/
  gwms_container_allowed /img/x /cvmfs/,/img/
  gwms_container_allowed /any/where '*'
  ! gwms_container_allowed /home/x /cvmfs/
  ! gwms_container_allowed /cvmfs/../etc /cvmfs/
  ! gwms_container_allowed /cvmfs/x ''
}

@test "script: unprivileged runtime, images tested, knobs written, --userns passed on" {
  gwms_attr_set GLIDEIN_Singularity_Use preferred
  gwms_attr_set SINGULARITY_IMAGES_DICT "default:${IMG},el9:${IMG}/nope,bad:/home/x"
  gwms_attr_set GLIDEIN_CONTAINER_ALLOWED_PREFIXES "$BATS_TEST_TMPDIR/"
  gwms_attr_set GLIDEIN_CONTAINER_EXTRA_ARGS "--nv --cleanenv"
  FAKE_CALLS="$BATS_TEST_TMPDIR/calls" with_fake S
  [ "$(gwms_attr_get HAS_SINGULARITY)" = true ]
  [ "$(gwms_attr_get SINGULARITY_VERSION)" = 1.4.1-1 ]
  [ "$(gwms_attr_get SINGULARITY_PATH)" = "$BATS_TEST_TMPDIR/bin/apptainer" ]
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_MODE)" = unprivileged ]
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_UNPRIVILEGED)" = true ]
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_POLICY)" = preferred ]
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_IMAGES)" = default ]
  [ "$(gwms_attr_get GWMS_CONTAINER_DEFAULT_IMAGE)" = "$IMG" ]
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_ERROR)" = "" ]
  fragment | grep -qx "SINGULARITY = $BATS_TEST_TMPDIR/bin/apptainer"
  fragment | grep -qx 'SINGULARITY_EXTRA_ARGUMENTS = "--userns --cleanenv"'
  fragment | grep -qx 'SINGULARITY_IS_SETUID = False'
  fragment | grep -qx 'SINGULARITY_USE_PID_NAMESPACES = True'
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_PID_NAMESPACES)" = true ]
  fragment | grep -qF "ifThenElse(isString(TARGET.SingularityImage), TARGET.SingularityImage, \"${IMG}\")"
  ! fragment | grep -q 'el9'
  # the unreachable image is reported in the JSON log, the outside one too
  grep -q 'image el9' "$GWMS_LOG_FILE"
  grep -q 'outside the allow-list' "$GWMS_LOG_FILE"
  # exec and test, once each for the image that runs (el9's image is missing), plus --pid
  [ "$(grep -c -- "--userns --contain --no-home ${IMG} /bin/true" "$BATS_TEST_TMPDIR/calls")" -eq 1 ]
  [ "$(grep -c -- "^--userns --contain --no-home ${IMG}\$" "$BATS_TEST_TMPDIR/calls")" -eq 1 ]
}

@test "script: setuid-only runtime is privileged mode, no --userns" {
  gwms_attr_set SINGULARITY_IMAGES_DICT "default:${IMG}"
  gwms_attr_set GLIDEIN_CONTAINER_ALLOWED_PREFIXES '*'
  FAKE_USERNS=0 FAKE_SETUID=1 FAKE_PIDNS=0 with_fake S
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_MODE)" = privileged ]
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_UNPRIVILEGED)" = false ]
  [ "$(gwms_attr_get HAS_SINGULARITY)" = true ]
  fragment | grep -qx 'SINGULARITY_EXTRA_ARGUMENTS = ""'
  fragment | grep -qx 'SINGULARITY_IS_SETUID = True'
  # the stand-in refuses --pid without FAKE_PIDNS=1
  fragment | grep -qx 'SINGULARITY_USE_PID_NAMESPACES = False'
  fragment | grep -qx 'SINGULARITY_JOB = isString(TARGET.SingularityImage)'
}

@test "script: a failing runtime test goes to the JSON log; no container support advertised" {
  gwms_attr_set SINGULARITY_IMAGES_DICT "default:${IMG}"
  gwms_attr_set GLIDEIN_CONTAINER_ALLOWED_PREFIXES '*'
  FAKE_USERNS=0 FAKE_SETUID=0 with_fake S
  [ "$(gwms_attr_get HAS_SINGULARITY)" = false ]
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_MODE)" = unusable ]
  [[ $(gwms_attr_get GLIDEIN_CONTAINER_ERROR) == *"cannot run image"* ]]
  fragment | grep -qx 'SINGULARITY_JOB = false'
  fragment | grep -qx 'START = $(START) && (TARGET.SingularityImage =?= undefined)'
  local line
  line=$(grep -n 'container test:' "$GWMS_LOG_FILE" | head -1 | cut -d: -f1)
  [ "$(json_get "$GWMS_LOG_FILE" "$line" severity)" = warning ]
  json_get "$GWMS_LOG_FILE" "$line" file data | base64 -d | gunzip | grep -q 'user namespaces not available'
}

@test "script: required but unavailable fails validation (exit 1)" {
  gwms_attr_set GLIDEIN_Singularity_Use required
  PATH=/nonexistent:/usr/bin:/bin run S
  if command -v apptainer >/dev/null || command -v singularity >/dev/null; then
    skip "a real runtime is installed here"
  fi
  [ "$status" -eq 1 ]
  [[ $output == *"container required but unavailable: no apptainer or singularity found"* ]]
  [ "$(gwms_attr_get HAS_SINGULARITY)" = false ]
  grep -q '"severity":"error","message":"container required' "$GWMS_LOG_FILE"
  # the entry alone can require it too; a runtime that fails its test counts as missing
  : >"$GWMS_ATTRS_FILE"
  gwms_attr_set GLIDEIN_SINGULARITY_REQUIRE required
  gwms_attr_set SINGULARITY_IMAGES_DICT "default:${IMG}"
  gwms_attr_set GLIDEIN_CONTAINER_ALLOWED_PREFIXES '*'
  FAKE_USERNS=0 with_fake run S
  [ "$status" -eq 1 ]
}

@test "script: policies that conflict fail validation; never turns containers off" {
  gwms_attr_set GLIDEIN_Singularity_Use required
  gwms_attr_set GLIDEIN_SINGULARITY_REQUIRE never
  with_fake run S
  [ "$status" -eq 1 ]
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_POLICY)" = conflict ]
  gwms_attr_set GLIDEIN_Singularity_Use optional
  with_fake S
  [ "$(gwms_attr_get GLIDEIN_CONTAINER_POLICY)" = none ]
  [ "$(gwms_attr_get HAS_SINGULARITY)" = false ]
  fragment | grep -qx 'SINGULARITY_JOB = false'
}

@test "script: bad policy word or image map is a script error (exit 2)" {
  gwms_attr_set GLIDEIN_Singularity_Use always
  with_fake run S
  [ "$status" -eq 2 ]
  gwms_attr_set GLIDEIN_Singularity_Use optional
  gwms_attr_set SINGULARITY_IMAGES_DICT "nocolon"
  with_fake run S
  [ "$status" -eq 2 ]
}

@test "script: no image configured: user namespaces decide" {
  with_fake S
  if unshare --user --map-root-user /bin/true 2>/dev/null; then
    [ "$(gwms_attr_get GLIDEIN_CONTAINER_MODE)" = unprivileged ]
    [ "$(gwms_attr_get HAS_SINGULARITY)" = true ]
  else
    [ "$(gwms_attr_get GLIDEIN_CONTAINER_MODE)" = unusable ]
    [ "$(gwms_attr_get HAS_SINGULARITY)" = false ]
  fi
}

@test "exec: VO scripts run a command in the default image with the binds" {
  gwms_attr_set HAS_SINGULARITY true
  gwms_attr_set SINGULARITY_PATH "$BATS_TEST_TMPDIR/bin/apptainer"
  gwms_attr_set GWMS_CONTAINER_DEFAULT_IMAGE "$IMG"
  gwms_attr_set GLIDEIN_CONTAINER_BINDS "/etc/hosts,/nonexistent:/x"
  FAKE_CALLS="$BATS_TEST_TMPDIR/calls" FAKE_SETUID=1 gwms_container_exec /bin/echo hi
  [ "$(cat "$BATS_TEST_TMPDIR/calls")" = "--contain --no-home -B /etc/hosts ${IMG} /bin/echo hi" ]
  gwms_attr_set HAS_SINGULARITY false
  run gwms_container_exec /bin/true
  [ "$status" -eq 125 ]
}

@test "ssh template: Debian's lib/condor layout is pointed at, lib/ is left alone" {
  local r="$BATS_TEST_TMPDIR/rel"
  mkdir -p "$r/usr/libexec/condor" "$r/usr/lib/condor"
  [ -z "$(gwms_container_ssh_template "$r/usr/libexec/condor")" ]
  touch "$r/usr/lib/condor/condor_ssh_to_job_sshd_config_template"
  [ "$(gwms_container_ssh_template "$r/usr/libexec/condor")" = \
    "SSH_TO_JOB_SSHD_CONFIG_TEMPLATE = $r/usr/lib/condor/condor_ssh_to_job_sshd_config_template" ]
  touch "$r/usr/lib/condor_ssh_to_job_sshd_config_template"
  [ -z "$(gwms_container_ssh_template "$r/usr/libexec/condor")" ]
  [ -z "$(gwms_container_ssh_template '')" ]
}
