#!/usr/bin/env bats
# glidein/lib/http.sh (against a real python -m http.server)

load helpers

setup_file() {
  export SRV_DIR="${BATS_FILE_TMPDIR}/srv"
  mkdir -p "$SRV_DIR/sub"
  printf 'hello\n' >"$SRV_DIR/hello.txt"
  head -c 200000 /dev/urandom >"$SRV_DIR/sub/blob.bin"
  http_start "$SRV_DIR"
  export HTTP_PORT HTTP_PID
}

teardown_file() {
  http_stop
}

setup() {
  source "${GLIDEIN_DIR}/lib/http.sh"
  export GWMS_FETCH_DELAY=0
}

@test "gwms_http_tool prefers curl, honours GWMS_HTTP_TOOL, fails when absent" {
  [ "$(gwms_http_tool)" = curl ]
  [ "$(GWMS_HTTP_TOOL=wget gwms_http_tool)" = wget ]
  GWMS_HTTP_TOOL=no-such-client run gwms_http_tool
  [ "$status" -eq 1 ]
  PATH=/nonexistent run gwms_http_tool
  [ "$status" -eq 1 ]
  # neither curl nor wget: python3 (a PATH holding only python3)
  mkdir -p "$BATS_TEST_TMPDIR/py"
  ln -s "$(command -v python3)" "$BATS_TEST_TMPDIR/py/python3"
  [ "$(PATH=$BATS_TEST_TMPDIR/py gwms_http_tool)" = python3 ]
}

@test "gwms_fetch downloads with curl, wget and python3" {
  local tool
  for tool in curl wget python3; do
    GWMS_HTTP_TOOL=$tool gwms_fetch "http://127.0.0.1:${HTTP_PORT}/sub/blob.bin" "$BATS_TEST_TMPDIR/$tool.bin"
    cmp "$SRV_DIR/sub/blob.bin" "$BATS_TEST_TMPDIR/$tool.bin"
    [ ! -e "$BATS_TEST_TMPDIR/$tool.bin.part" ]
  done
}

@test "gwms_fetch: a 404 fails after the given tries and leaves no file" {
  local tool
  for tool in curl wget python3; do
    GWMS_HTTP_TOOL=$tool GWMS_FETCH_TRIES=2 run gwms_fetch "http://127.0.0.1:${HTTP_PORT}/missing" "$BATS_TEST_TMPDIR/m"
    [ "$status" -eq 1 ]
    [ ! -e "$BATS_TEST_TMPDIR/m" ]
    [ -s "$BATS_TEST_TMPDIR/m.err" ]
  done
}

@test "gwms_fetch retries: a server that appears late is reached" {
  local port dir="$BATS_TEST_TMPDIR/late"
  port=$(free_port)
  mkdir -p "$dir" && printf 'late\n' >"$dir/f"
  (sleep 1.5 && exec python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir" >/dev/null 2>&1) &
  local pid=$!
  GWMS_FETCH_TRIES=6 GWMS_FETCH_DELAY=1 gwms_fetch "http://127.0.0.1:${port}/f" "$BATS_TEST_TMPDIR/f" || { pkill -P "$pid"; kill "$pid"; false; }
  pkill -P "$pid" || true
  kill "$pid" 2>/dev/null || true
  grep -qx late "$BATS_TEST_TMPDIR/f"
}

@test "gwms_http_read_token strips whitespace; empty or missing fails" {
  printf '  abc.def.ghi \n\n' >"$BATS_TEST_TMPDIR/tok"
  [ "$(gwms_http_read_token "$BATS_TEST_TMPDIR/tok")" = abc.def.ghi ]
  : >"$BATS_TEST_TMPDIR/empty"
  run gwms_http_read_token "$BATS_TEST_TMPDIR/empty"
  [ "$status" -eq 1 ]
  run gwms_http_read_token /nonexistent
  [ "$status" -eq 1 ]
}

@test "gwms_http_post: the token never appears in xtrace output or leftover files" {
  printf 'SECRET-TOKEN-123\n' >"$BATS_TEST_TMPDIR/tok"
  printf 'body\n' >"$BATS_TEST_TMPDIR/body"
  export GWMS_WORK_DIR=$BATS_TEST_TMPDIR
  # python http.server answers POST with 501: the call fails, what matters is the trace
  run bash -c "source '${GLIDEIN_DIR}/lib/http.sh'; set -x; gwms_http_post 'http://127.0.0.1:${HTTP_PORT}/x' '$BATS_TEST_TMPDIR/body' '$BATS_TEST_TMPDIR/tok' 'X-A: b'; echo rc=\$?"
  [[ $output == *"rc=22"* ]]
  [[ $output != *SECRET-TOKEN-123* ]]
  ! grep -rq SECRET-TOKEN-123 --exclude=tok "$BATS_TEST_TMPDIR"
}
