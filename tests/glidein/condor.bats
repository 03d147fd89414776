#!/usr/bin/env bats
# glidein/lib/condor.sh

load helpers

setup() {
  source "${GLIDEIN_DIR}/lib/attrs.sh"
  source "${GLIDEIN_DIR}/lib/http.sh"
  source "${GLIDEIN_DIR}/lib/condor.sh"
  export GWMS_ATTRS_FILE="$BATS_TEST_TMPDIR/attrs"
  : >"$GWMS_ATTRS_FILE"
  : >"$BATS_TEST_TMPDIR/cron"
}

render() {
  gwms_condor_config_render /w "/r /r/sbin /r/bin /r/libexec" 1000000 "glidein@pool" "$BATS_TEST_TMPDIR/cron"
}

@test "START: only the glidein's own conditions when no component is set" {
  run gwms_condor_start_expr
  [ "$output" = '(time() < GLIDEIN_ToRetire) && (SiteWMS_WN_Draining =!= true) && (GLIDEIN_BLACKHOLE =!= true) && (GWMS_CRON_FAILED =!= true)' ]
}

@test "START: components in glidein, entry, frontend, group, custom order; blanks skipped" {
  gwms_attr_set GLIDECLIENT_Group_Start 'TARGET.Owner == "g"'
  gwms_attr_set GLIDEIN_Start 'true'
  gwms_attr_set GLIDECLIENT_Start '   '
  gwms_attr_set GLIDEIN_Entry_Start 'TARGET.RequestCpus <= 8'
  gwms_attr_set GLIDEIN_Custom_Start 'x || y'
  run gwms_condor_start_expr
  [[ $output == '(true) && (TARGET.RequestCpus <= 8) && (TARGET.Owner == "g") && (x || y) && (time() < GLIDEIN_ToRetire)'* ]]
}

@test "times: die = start + walltime - grace, retire = die - margin, floors" {
  [ "$(gwms_condor_times 1000 7200 300 1800)" = "7900 6100" ]
  # margin larger than the life: retire no earlier than start + 60
  [ "$(gwms_condor_times 1000 7200 300 99999)" = "7900 1060" ]
  # walltime shorter than grace: die at start + 60
  [ "$(gwms_condor_times 1000 100 300 0)" = "1060 1060" ]
}

@test "config: pool, security, slot, lifetime from the attributes" {
  gwms_attr_set GLIDEIN_Collector cm.example:9618
  gwms_attr_set GLIDEIN_CPUS 8
  gwms_attr_set GLIDEIN_MEMORY 16000
  gwms_attr_set GLIDEIN_Max_Walltime 7200
  gwms_attr_set GLIDEIN_Retire_Margin 1800
  gwms_attr_set GLIDEIN_Max_Idle 600
  gwms_attr_set GLIDEIN_Site 'My "Site"'
  run render
  [ "$status" -eq 0 ]
  local want
  for want in 'CONDOR_HOST = cm.example:9618' 'DAEMON_LIST = MASTER, STARTD' \
    'SEC_USE_FAMILY_SESSION = False' 'SEC_DEFAULT_AUTHENTICATION_METHODS = IDTOKENS' \
    'SEC_TOKEN_DIRECTORY = $(LOCAL_DIR)/tokens.d' 'MOUNT_UNDER_SCRATCH =' \
    'USE_PID_NAMESPACES = false' 'NUM_CPUS = 8' 'MEMORY = 16000' \
    'SLOT_TYPE_1_PARTITIONABLE = true' 'GLIDEIN_ToDie = 1006900' 'GLIDEIN_ToRetire = 1005100' \
    'STARTD_NOCLAIM_SHUTDOWN = 600' 'MASTER.DAEMON_SHUTDOWN = (STARTD_StartTime =?= 0)' \
    'GLIDEIN_Site = "My \"Site\""' 'ALLOW_ADMINISTRATOR = glidein@pool' \
    'LOCAL_DIR = /w/condor' 'SBIN = /r/sbin' 'LOCAL_CONFIG_DIR =' 'GLIDEIN_BLACKHOLE = false'; do
    grep -qxF -- "$want" <<<"$output" || { echo "missing: $want"; false; }
  done
  grep -q '^STARTD_ATTRS = .* GLIDEIN_Site' <<<"$output"
  grep -q '^START = ' <<<"$output"
  ! grep -q 'use feature : GPUs' <<<"$output"
}

@test "config: GPUs switch on the GPU feature and slot share" {
  gwms_attr_set GLIDEIN_Collector cm
  gwms_attr_set GLIDEIN_GPUS 2
  run render
  grep -qx 'use feature : GPUs' <<<"$output"
  grep -q '^SLOT_TYPE_1 = .*gpus=100%' <<<"$output"
}

@test "config: a black-hole rate adds the rate test, its latch and the claim worklife" {
  gwms_attr_set GLIDEIN_Collector cm
  gwms_attr_set GLIDEIN_BLACKHOLE_RATE 0.5
  gwms_attr_set GLIDEIN_BLACKHOLE_NUMJOBS 20
  run render
  [ "$status" -eq 0 ]
  grep -qx 'STARTD_LATCH_EXPRS = GWMS_BLACKHOLE_NOW GWMS_BLACKHOLE_BASE' <<<"$output"
  grep -qxF 'GWMS_BLACKHOLE_TEST = (RecentJobStarts >= 20) && (RecentJobStarts > 0.5 * $(GWMS_BLACKHOLE_ELAPSED))' <<<"$output"
  # measured from the glidein's start (a literal), never from DaemonStartTime, which
  # the startd does not have when it evaluates START and DAEMON_SHUTDOWN
  grep -qxF 'GWMS_BLACKHOLE_ELAPSED = ifThenElse(time() - 1000000 < 1200, time() - 1000000, 1200)' <<<"$output"
  ! grep -q DaemonStartTime <<<"$output"
  grep -qxF 'GLIDEIN_BLACKHOLE = (GWMS_BLACKHOLE_NOW =?= true) || (slot1_GWMS_BLACKHOLE_NOWTime > slot1_GWMS_BLACKHOLE_BASETime)' <<<"$output"
  grep -qxF 'STARTD_SLOT_ATTRS = $(STARTD_SLOT_ATTRS) GWMS_BLACKHOLE_NOWTime GWMS_BLACKHOLE_BASETime' <<<"$output"
  grep -qxF 'CLAIM_WORKLIFE = ifThenElse(GLIDEIN_BLACKHOLE =?= true, 0, -1)' <<<"$output"
  grep -qx 'STARTD_PRINT_ADS_ON_SHUTDOWN = true' <<<"$output"
}

@test "config: no black-hole rate, no latch and no claim worklife" {
  gwms_attr_set GLIDEIN_Collector cm
  run render
  grep -qx 'GLIDEIN_BLACKHOLE = false' <<<"$output"
  ! grep -q '^STARTD_LATCH_EXPRS\|^CLAIM_WORKLIFE\|^STARTD_SLOT_ATTRS' <<<"$output"
}

@test "blackhole_report: a recorded StartLog of a black-holed startd (23.9)" {
  run gwms_condor_blackhole_report "${BATS_TEST_DIRNAME}/data/StartLog.blackhole"
  [ "$status" -eq 0 ]
  [ "$output" = "1795561800 2" ]
}

@test "blackhole_report: no trip (NOW never changed), no dump, no file" {
  sed 's/^GWMS_BLACKHOLE_NOWTime = .*/GWMS_BLACKHOLE_NOWTime = 1795561789/' \
    "${BATS_TEST_DIRNAME}/data/StartLog.blackhole" >"$BATS_TEST_TMPDIR/same"
  run gwms_condor_blackhole_report "$BATS_TEST_TMPDIR/same"
  [ "$status" -eq 1 ] && [ -z "$output" ]
  grep -v 'AD DUMP' "${BATS_TEST_DIRNAME}/data/StartLog.blackhole" >"$BATS_TEST_TMPDIR/nodump"
  run gwms_condor_blackhole_report "$BATS_TEST_TMPDIR/nodump"
  [ "$status" -eq 1 ]
  run gwms_condor_blackhole_report "$BATS_TEST_TMPDIR/absent"
  [ "$status" -eq 1 ]
}

@test "config: \$ in a value cannot expand a macro" {
  gwms_attr_set GLIDEIN_Collector cm
  gwms_attr_set WEIRD 'cost $(RELEASE_DIR) $$'
  run render
  grep -qxF 'WEIRD = "cost $(DOLLAR)(RELEASE_DIR) $(DOLLAR)$(DOLLAR)"' <<<"$output"
}

@test "config: periodic scripts become STARTD_CRON jobs and START guards" {
  gwms_attr_set GLIDEIN_Collector cm
  printf 'GWMS1 scripts/a.sh factory 60\nGWMS2 vo/b.sh group 300\n' >"$BATS_TEST_TMPDIR/cron"
  run render
  grep -qx 'STARTD_CRON_JOBLIST = GWMS1 GWMS2' <<<"$output"
  grep -qx 'STARTD_CRON_GWMS2_PERIOD = 300' <<<"$output"
  grep -qx 'STARTD_CRON_GWMS1_EXECUTABLE = /w/bin/gwms_cron_wrapper' <<<"$output"
  grep -qx 'GWMS_CRON_FAILED = (GWMS_CRON_GWMS1_FAILED =?= true) || (GWMS_CRON_GWMS2_FAILED =?= true)' <<<"$output"
}

@test "config: refuses a missing collector and non-numeric sizes" {
  run render
  [ "$status" -eq 1 ] && [[ $output == *"no collector"* ]]
  gwms_attr_set GLIDEIN_Collector cm
  gwms_attr_set GLIDEIN_CPUS auto
  run render
  [ "$status" -eq 1 ] && [[ $output == *"not a whole number"* ]]
}

@test "jwt claim: subject read from the payload, token never traced" {
  local payload
  payload=$(printf '{"iss":"pool.example","sub":"glidein@pool.example","scope":"condor:/ADVERTISE_STARTD"}' | base64 -w0 | tr '+/' '-_' | tr -d '=')
  printf 'eyJhbGciOiJIUzI1NiIsImtpZCI6IlBPT0wifQ.%s.SIGNATURE-SECRET\n' "$payload" >"$BATS_TEST_TMPDIR/tok"
  [ "$(gwms_jwt_claim "$BATS_TEST_TMPDIR/tok" sub)" = glidein@pool.example ]
  [ "$(gwms_jwt_claim "$BATS_TEST_TMPDIR/tok" iss)" = pool.example ]
  run gwms_jwt_claim "$BATS_TEST_TMPDIR/tok" nope
  [ "$status" -eq 1 ]
  run bash -c "source '${GLIDEIN_DIR}/lib/http.sh'; source '${GLIDEIN_DIR}/lib/condor.sh'; set -x; gwms_jwt_claim '$BATS_TEST_TMPDIR/tok' sub"
  [[ $output != *SIGNATURE-SECRET* ]]
}

@test "locate: a release dir (sbin/ or usr/sbin/), else condor_master on PATH" {
  local r="$BATS_TEST_TMPDIR/rel"
  mkdir -p "$r/usr/sbin" "$r/usr/libexec/condor" "$BATS_TEST_TMPDIR/bin"
  printf '#!/bin/sh\n' >"$r/usr/sbin/condor_master" && chmod +x "$r/usr/sbin/condor_master"
  [ "$(gwms_condor_locate /nonexistent "$r")" = "$r/usr $r/usr/sbin $r/usr/bin $r/usr/libexec/condor" ]
  mkdir -p "$BATS_TEST_TMPDIR/inst/sbin"
  cp "$r/usr/sbin/condor_master" "$BATS_TEST_TMPDIR/inst/sbin/"
  PATH="$BATS_TEST_TMPDIR/inst/sbin:$PATH" run gwms_condor_locate
  [ "$output" = "$BATS_TEST_TMPDIR/inst $BATS_TEST_TMPDIR/inst/sbin $BATS_TEST_TMPDIR/inst/bin $BATS_TEST_TMPDIR/inst/libexec" ]
  PATH=/nonexistent run gwms_condor_locate /nonexistent
  [ "$status" -eq 1 ]
}

@test "extract: a tarball with one top directory yields that directory" {
  mkdir -p "$BATS_TEST_TMPDIR/src/condor-23/sbin"
  printf '#!/bin/sh\n' >"$BATS_TEST_TMPDIR/src/condor-23/sbin/condor_master"
  chmod +x "$BATS_TEST_TMPDIR/src/condor-23/sbin/condor_master"
  tar -czf "$BATS_TEST_TMPDIR/c.tar.gz" -C "$BATS_TEST_TMPDIR/src" condor-23
  local dir
  dir=$(gwms_condor_extract "$BATS_TEST_TMPDIR/c.tar.gz" "$BATS_TEST_TMPDIR/x")
  [ "$dir" = "$BATS_TEST_TMPDIR/x/condor-23" ]
  [[ $(gwms_condor_locate "$dir") == "$dir $dir/sbin "* ]]
  printf 'not a tarball' >"$BATS_TEST_TMPDIR/bad.tar.gz"
  run gwms_condor_extract "$BATS_TEST_TMPDIR/bad.tar.gz" "$BATS_TEST_TMPDIR/y"
  [ "$status" -eq 1 ]
}
