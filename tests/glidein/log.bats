#!/usr/bin/env bats
# glidein/lib/log.sh

load helpers

setup() {
  source "${GLIDEIN_DIR}/lib/log.sh"
  source "${GLIDEIN_DIR}/lib/http.sh"
  export GWMS_LOG_FILE="${BATS_TEST_TMPDIR}/log.jsonl"
  export GWMS_LOG_SCRIPT=test.sh
  export GWMS_LOG_STDERR=none
}

# roundtrip STRING: escape STRING, decode it as JSON with python, compare
roundtrip() {
  local escaped decoded
  escaped=$(gwms_json_escape "$1")
  decoded=$(printf '"%s"' "$escaped" | python3 -c 'import json,sys; sys.stdout.write(json.loads(sys.stdin.read()))'; printf x)
  [[ ${decoded%x} == "$1" ]]
}

@test "json escape: quotes, backslashes and newlines survive a JSON round trip" {
  roundtrip 'say "hi" \ C:\path\n'
  roundtrip $'two\nlines\r\n\ttab'
  roundtrip ''
  roundtrip '{"json":"inside"}'
}

@test "json escape: every control character 0x01-0x1f is escaped" {
  local s='' i ch code
  for ((i = 1; i < 32; i++)); do
    printf -v code '%03o' "$i"
    printf -v ch '%b' "\\0${code}"
    s+="a${ch}"
  done
  run gwms_json_escape "$s"
  [[ $output != *[$'\001'-$'\037']* ]]
  roundtrip "$s"
  [[ $(gwms_json_escape $'\x01') == '\u0001' ]]
  [[ $(gwms_json_escape $'\x1b[31m') == '\u001b[31m' ]]
}

@test "json escape: UTF-8 passes, invalid bytes are dropped" {
  roundtrip 'héllo wörld ✓ 日本'
  run gwms_json_escape $'ok\xff\xfe end'
  [[ $output == 'ok end' ]]
}

@test "json escape: trailing newlines and shell metacharacters are kept" {
  roundtrip $'ends with newlines\n\n'
  roundtrip '$(rm -rf /) `x` ${HOME} * ?'
}

@test "gwms_log writes one valid record with all fields" {
  gwms_log info $'message with "quotes"\nand a newline'
  [ "$(wc -l <"$GWMS_LOG_FILE")" -eq 1 ]
  [ "$(json_get "$GWMS_LOG_FILE" 1 severity)" = info ]
  [ "$(json_get "$GWMS_LOG_FILE" 1 script)" = test.sh ]
  [ "$(json_get "$GWMS_LOG_FILE" 1 pid)" = "$$" ]
  [ "$(json_get "$GWMS_LOG_FILE" 1 message)" = $'message with "quotes"\nand a newline' ]
  [[ $(json_get "$GWMS_LOG_FILE" 1 time) =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
}

@test "gwms_log: an unknown severity becomes error and says so" {
  gwms_log loud "x"
  [ "$(json_get "$GWMS_LOG_FILE" 1 severity)" = error ]
  [[ $(json_get "$GWMS_LOG_FILE" 1 message) == *"unknown severity 'loud'"* ]]
}

@test "gwms_log: warnings reach stderr as text, info does not" {
  export GWMS_LOG_STDERR=warning
  run --separate-stderr gwms_log info "quiet"
  [ -z "$stderr" ]
  run --separate-stderr gwms_log warning "loud"
  [[ $stderr == *"warning: loud"* ]]
}

@test "gwms_log_now is UTC ISO 8601 with milliseconds" {
  run gwms_log_now
  [[ $output =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
  local want
  want=$(date -u +%Y-%m-%dT%H)
  [[ $output == "$want"* ]]
}

@test "gwms_log_attach: the file comes back byte for byte (gzip+base64)" {
  local f="${BATS_TEST_TMPDIR}/out.txt"
  printf 'line1\nweird "bytes" \x01\\\n' >"$f"
  gwms_log_attach error "$f" "script failed"
  [ "$(json_get "$GWMS_LOG_FILE" 1 file encoding)" = gzip+base64 ]
  [ "$(json_get "$GWMS_LOG_FILE" 1 file name)" = out.txt ]
  json_get "$GWMS_LOG_FILE" 1 file data | base64 -d | gzip -dc >"${f}.back"
  cmp "$f" "${f}.back"
}

@test "gwms_log_attach: large files keep their tail and say truncated" {
  local f="${BATS_TEST_TMPDIR}/big.txt"
  seq 1 100000 >"$f"
  GWMS_LOG_ATTACH_MAX=1000 gwms_log_attach error "$f" "big"
  [ "$(json_get "$GWMS_LOG_FILE" 1 file truncated)" = True ]
  json_get "$GWMS_LOG_FILE" 1 file data | base64 -d | gzip -dc | tail -n 1 | grep -qx 100000
}

@test "gwms_log_attach: a missing file is a plain record" {
  gwms_log_attach error /nonexistent "x"
  [[ $(json_get "$GWMS_LOG_FILE" 1 message) == *"unreadable"* ]]
}

@test "gwms_log_flush: nothing to do without a URL" {
  gwms_log info x
  run gwms_log_flush
  [ "$status" -eq 0 ]
  [ ! -e "${GWMS_LOG_FILE}.sent" ]
}

@test "gwms_log_flush: failure to reach the server keeps records and returns 1" {
  gwms_log info x
  GWMS_LOG_URL="http://127.0.0.1:$(free_port)/log" GWMS_HTTP_TIMEOUT=5 run gwms_log_flush
  [ "$status" -eq 1 ]
  [ ! -e "${GWMS_LOG_FILE}.sent" ]
  [ "$(wc -l <"$GWMS_LOG_FILE")" -eq 1 ]
}

@test "gwms_log_severity_rank orders severities" {
  [ "$(gwms_log_severity_rank debug)" -lt "$(gwms_log_severity_rank info)" ]
  [ "$(gwms_log_severity_rank error)" -lt "$(gwms_log_severity_rank critical)" ]
  run gwms_log_severity_rank bogus
  [ "$status" -eq 1 ]
}

@test "attrs record: non-empty NAME=VALUE pairs become the record's attrs object" {
  gwms_log_attrs "glidein identity" factory=fac 'entry=E "1"' frontend= site=T2_X node=n1 bogus
  run python3 -c '
import json, sys
rec = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert rec["severity"] == "info" and rec["message"] == "glidein identity", rec
assert rec["attrs"] == {"factory": "fac", "entry": "E \"1\"", "site": "T2_X", "node": "n1"}, rec
' "$GWMS_LOG_FILE"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "attrs record with no usable pair: an empty attrs object, still valid JSON" {
  gwms_log_attrs "nothing" a= =b
  run python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); assert r["attrs"] == {}, r' "$GWMS_LOG_FILE"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
}
