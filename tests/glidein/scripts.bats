#!/usr/bin/env bats
# glidein/lib/scripts.sh

load helpers

setup() {
  source "${GLIDEIN_DIR}/lib/log.sh"
  source "${GLIDEIN_DIR}/lib/stage.sh"
  source "${GLIDEIN_DIR}/lib/scripts.sh"
  export GWMS_WORK_DIR="$BATS_TEST_TMPDIR"
  export GWMS_LOG_FILE="$BATS_TEST_TMPDIR/log.jsonl" GWMS_LOG_STDERR=none
  export GWMS_ATTRS_FILE="$BATS_TEST_TMPDIR/attrs"
  STAGE="$BATS_TEST_TMPDIR/stage"
  mkdir -p "$STAGE/s"
  : >"$GWMS_ATTRS_FILE"
}

# mk NAME EXIT [TEXT]: a script that appends its name to ran.txt, prints TEXT, exits EXIT
mk() {
  {
    printf '#!/bin/bash\n'
    printf 'printf "%%s\\n" "$GWMS_LOG_SCRIPT $GWMS_SCRIPT_LEVEL" >>%q\n' "$BATS_TEST_TMPDIR/ran.txt"
    printf 'printf "%%s\\n" %q\n' "${3:-}"
    printf 'exit %d\n' "$2"
  } >"$STAGE/$1"
  chmod +x "$STAGE/$1"
}

@test "level rank orders factory, entry, frontend, group" {
  [ "$(gwms_scripts_level_rank factory)" -lt "$(gwms_scripts_level_rank entry)" ]
  [ "$(gwms_scripts_level_rank frontend)" -lt "$(gwms_scripts_level_rank group)" ]
  run gwms_scripts_level_rank site
  [ "$status" -eq 1 ]
}

@test "parse sorts by level, then order, then name, and filters by kind" {
  cat >"$STAGE/scripts.list" <<'L'
group 001 setup s/g.sh 0
factory 050 setup s/f50.sh 0
entry 010 setup s/e.sh 0
factory 005 setup s/f5.sh 0
factory 050 setup s/a50.sh 0
frontend 001 periodic s/p.sh 300
L
  run gwms_scripts_parse "$STAGE/scripts.list" setup
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "factory s/f5.sh 0" ]
  [ "${lines[1]}" = "factory s/a50.sh 0" ]
  [ "${lines[2]}" = "factory s/f50.sh 0" ]
  [ "${lines[3]}" = "entry s/e.sh 0" ]
  [ "${lines[4]}" = "group s/g.sh 0" ]
  run gwms_scripts_parse "$STAGE/scripts.list" periodic
  [ "$output" = "frontend s/p.sh 300" ]
}

@test "parse refuses malformed lines and unsafe names" {
  printf 'factory 1 setup ../x.sh 0\n' >"$STAGE/l1"
  run gwms_scripts_parse "$STAGE/l1" setup
  [ "$status" -eq 1 ] && [[ $output == *"line 1"* ]]
  printf 'factory 1 setup a.sh 0\nsite 1 setup b.sh 0\n' >"$STAGE/l2"
  run gwms_scripts_parse "$STAGE/l2" setup
  [ "$status" -eq 1 ] && [[ $output == *"line 2"* ]]
  printf 'factory x setup a.sh 0\n' >"$STAGE/l3"
  run gwms_scripts_parse "$STAGE/l3" setup
  [ "$status" -eq 1 ]
}

@test "run: exit 0 is ok and logged at info" {
  mk s/ok.sh 0 fine
  gwms_script_run s/ok.sh "$STAGE/s/ok.sh" entry
  [ "$(json_get "$GWMS_LOG_FILE" 1 severity)" = info ]
  grep -qx "s/ok.sh entry" "$BATS_TEST_TMPDIR/ran.txt"
}

@test "run: exit 1 is a validation failure with the output attached" {
  mk s/bad.sh 1 'disk is full: "/scratch" 0 bytes'
  run gwms_script_run s/bad.sh "$STAGE/s/bad.sh" frontend
  [ "$status" -eq 1 ]
  [[ $(json_get "$GWMS_LOG_FILE" 1 message) == *"s/bad.sh (frontend) failed validation"* ]]
  json_get "$GWMS_LOG_FILE" 1 file data | base64 -d | gzip -dc | grep -q 'disk is full: "/scratch" 0 bytes'
}

@test "run: any other exit is a script error" {
  mk s/err.sh 7 oops
  run gwms_script_run s/err.sh "$STAGE/s/err.sh" group
  [ "$status" -eq 2 ]
  [[ $(json_get "$GWMS_LOG_FILE" 1 message) == *"error (exit 7)"* ]]
  run gwms_script_run s/none.sh "$STAGE/s/none.sh" group
  [ "$status" -eq 2 ]
}

@test "run: a script that hangs is stopped by GWMS_SCRIPT_TIMEOUT" {
  printf '#!/bin/bash\nsleep 30\n' >"$STAGE/s/hang.sh" && chmod +x "$STAGE/s/hang.sh"
  GWMS_SCRIPT_TIMEOUT=1 run gwms_script_run s/hang.sh "$STAGE/s/hang.sh" entry
  [ "$status" -eq 2 ]
  [[ $(json_get "$GWMS_LOG_FILE" 1 message) == *"timed out"* ]]
}

@test "run_setup runs in order and stops at the first failure" {
  mk s/1.sh 0; mk s/2.sh 1 'node bad'; mk s/3.sh 0
  printf 'factory 1 setup s/1.sh 0\nentry 1 setup s/2.sh 0\ngroup 1 setup s/3.sh 0\n' >"$STAGE/scripts.list"
  gwms_scripts_run_setup "$STAGE/scripts.list" "$STAGE" || rc=$?
  [ "$rc" -eq 1 ]
  [ "$GWMS_SCRIPTS_FAILED" = s/2.sh ]
  [ "$(wc -l <"$BATS_TEST_TMPDIR/ran.txt")" -eq 2 ]
}

@test "run_setup: no list means nothing to do; a bad list is a script error" {
  gwms_scripts_run_setup "$STAGE/none.list" "$STAGE"
  printf 'bad line\n' >"$STAGE/scripts.list"
  gwms_scripts_run_setup "$STAGE/scripts.list" "$STAGE" || rc=$?
  [ "$rc" -eq 2 ] && [ "$GWMS_SCRIPTS_FAILED" = scripts.list ]
}

@test "scripts see the contract environment and may advertise" {
  cat >"$STAGE/s/env.sh" <<'SH'
#!/bin/bash
set -eu
[[ -d $GWMS_WORK_DIR && -w $GWMS_ATTRS_FILE ]]
[[ $PWD == "$GWMS_WORK_DIR" ]]
printf 'MY_ATTR=%s\n' "$GWMS_SCRIPT_LEVEL" >>"$GWMS_ATTRS_FILE"
SH
  chmod +x "$STAGE/s/env.sh"
  gwms_script_run s/env.sh "$STAGE/s/env.sh" entry
  grep -qx 'MY_ATTR=entry' "$GWMS_ATTRS_FILE"
}
