#!/usr/bin/env bats
# glidein/lib/stage.sh

load helpers

setup_file() {
  export SRV_DIR="${BATS_FILE_TMPDIR}/srv"
  mkdir -p "$SRV_DIR/lib"
  printf 'a\n' >"$SRV_DIR/a.txt"
  printf 'b\n' >"$SRV_DIR/lib/b.sh"
  (cd "$SRV_DIR" && sha256sum a.txt lib/b.sh >manifest.sha256)
  MANIFEST_SHA=$(sha256sum <"$SRV_DIR/manifest.sha256" | cut -d' ' -f1)
  export MANIFEST_SHA
  http_start "$SRV_DIR"
  export HTTP_PORT HTTP_PID
}

teardown_file() {
  http_stop
}

setup() {
  source "${GLIDEIN_DIR}/lib/log.sh"
  source "${GLIDEIN_DIR}/lib/http.sh"
  source "${GLIDEIN_DIR}/lib/stage.sh"
  export GWMS_FETCH_TRIES=1 GWMS_LOG_STDERR=none
}

@test "gwms_sha256_file matches sha256sum, with each fallback tool" {
  local f="$BATS_TEST_TMPDIR/f" want
  head -c 5000 /dev/urandom >"$f"
  want=$(sha256sum <"$f" | cut -d' ' -f1)
  [ "$(gwms_sha256_file "$f")" = "$want" ]
  # hide sha256sum: shasum/openssl/python3 take over
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  local t
  for t in openssl python3; do
    if command -v "$t" >/dev/null; then
      ln -sf "$(command -v "$t")" "$BATS_TEST_TMPDIR/bin/$t"
    fi
  done
  [ "$(PATH=$BATS_TEST_TMPDIR/bin gwms_sha256_file "$f")" = "$want" ]
  run gwms_sha256_file /nonexistent
  [ "$status" -eq 1 ]
}

@test "gwms_stage_check_name accepts safe relative names only" {
  gwms_stage_check_name a.txt
  gwms_stage_check_name lib/x-y_z+1.sh
  local bad
  for bad in '' /etc/passwd ../x a/../b a//b ./a a/ 'a b' 'a;b' '$(x)' manifest.sha256 .. .; do
    run gwms_stage_check_name "$bad"
    [ "$status" -eq 1 ] || { echo "accepted: $bad"; false; }
  done
}

@test "gwms_stage_parse_manifest reads names and sums, refuses bad lines by number" {
  gwms_stage_parse_manifest "$SRV_DIR/manifest.sha256"
  [ "${GWMS_STAGE_NAMES[0]}" = a.txt ]
  [ "${GWMS_STAGE_NAMES[1]}" = lib/b.sh ]
  [[ ${GWMS_STAGE_SUMS[0]} =~ ^[0-9a-f]{64}$ ]]
  { cat "$SRV_DIR/manifest.sha256"; printf '%064d  ../evil\n' 0; } >"$BATS_TEST_TMPDIR/m"
  run gwms_stage_parse_manifest "$BATS_TEST_TMPDIR/m"
  [ "$status" -eq 1 ]
  gwms_stage_parse_manifest "$BATS_TEST_TMPDIR/m" || true
  [[ $GWMS_STAGE_ERROR == *"line 3: unsafe file name"* ]]
  printf 'garbage\n' >"$BATS_TEST_TMPDIR/m2"
  gwms_stage_parse_manifest "$BATS_TEST_TMPDIR/m2" || true
  [[ $GWMS_STAGE_ERROR == *"line 1: not '<sha256>  <name>'"* ]]
}

@test "gwms_stage_verify_file names the file and both digests on mismatch" {
  printf 'x' >"$BATS_TEST_TMPDIR/x"
  gwms_stage_verify_file "$BATS_TEST_TMPDIR/x" "$(sha256sum <"$BATS_TEST_TMPDIR/x" | cut -d' ' -f1)" x
  run gwms_stage_verify_file "$BATS_TEST_TMPDIR/x" "$(printf '%064d' 0)" lib/x.sh
  [ "$status" -eq 1 ]
  gwms_stage_verify_file "$BATS_TEST_TMPDIR/x" "$(printf '%064d' 0)" lib/x.sh || true
  [[ $GWMS_STAGE_ERROR == "lib/x.sh: sha256 mismatch (expected 0000"* ]]
}

@test "gwms_stage_fetch downloads and verifies everything" {
  gwms_stage_fetch "http://127.0.0.1:${HTTP_PORT}/manifest.sha256" "$MANIFEST_SHA" "$BATS_TEST_TMPDIR/d"
  cmp "$SRV_DIR/lib/b.sh" "$BATS_TEST_TMPDIR/d/lib/b.sh"
  cmp "$SRV_DIR/a.txt" "$BATS_TEST_TMPDIR/d/a.txt"
}

@test "gwms_stage_fetch: a wrong manifest hash stops before any file is fetched" {
  run gwms_stage_fetch "http://127.0.0.1:${HTTP_PORT}/manifest.sha256" "$(printf '%064d' 1)" "$BATS_TEST_TMPDIR/d"
  [ "$status" -eq 1 ]
  [ ! -e "$BATS_TEST_TMPDIR/d/a.txt" ]
  [ ! -e "$BATS_TEST_TMPDIR/d/manifest.sha256" ]
}

@test "gwms_stage_fetch: a tampered file is named and removed" {
  local srv="$BATS_TEST_TMPDIR/srv2"
  cp -r "$SRV_DIR" "$srv"
  printf 'tampered\n' >"$srv/lib/b.sh"
  http_start "$srv"
  gwms_stage_fetch "http://127.0.0.1:${HTTP_PORT}/manifest.sha256" "$MANIFEST_SHA" "$BATS_TEST_TMPDIR/d" || true
  http_stop
  [[ $GWMS_STAGE_ERROR == "lib/b.sh: sha256 mismatch"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/d/lib/b.sh" ]
}

@test "gwms_stage_fetch: a missing file is named" {
  local srv="$BATS_TEST_TMPDIR/srv3"
  cp -r "$SRV_DIR" "$srv"
  rm "$srv/a.txt"
  http_start "$srv"
  gwms_stage_fetch "http://127.0.0.1:${HTTP_PORT}/manifest.sha256" "$MANIFEST_SHA" "$BATS_TEST_TMPDIR/d" || true
  http_stop
  [[ $GWMS_STAGE_ERROR == "a.txt: download from "*"failed"* ]]
}

@test "gwms_stage_fetch: with curl every file comes through the one-curl fast path" {
  command -v curl >/dev/null || skip "no curl"
  GWMS_HTTP_TOOL=curl gwms_stage_fetch "http://127.0.0.1:${HTTP_PORT}/manifest.sha256" "$MANIFEST_SHA" "$BATS_TEST_TMPDIR/d"
  [ "${#GWMS_STAGE_PREFETCHED[@]}" -eq "${#GWMS_STAGE_NAMES[@]}" ]
  cmp "$SRV_DIR/lib/b.sh" "$BATS_TEST_TMPDIR/d/lib/b.sh"
  [ -z "$(find "$BATS_TEST_TMPDIR/d" -name '*.part')" ]
  GWMS_HTTP_TOOL=curl GWMS_STAGE_BATCH=0 gwms_stage_fetch "http://127.0.0.1:${HTTP_PORT}/manifest.sha256" "$MANIFEST_SHA" "$BATS_TEST_TMPDIR/e"
  [ "${#GWMS_STAGE_PREFETCHED[@]}" -eq 0 ]
  cmp "$SRV_DIR/a.txt" "$BATS_TEST_TMPDIR/e/a.txt"
}

@test "gwms_stage_fetch: a tampered file fails the fast path and the per-file check" {
  command -v curl >/dev/null || skip "no curl"
  local srv="$BATS_TEST_TMPDIR/srv4"
  cp -r "$SRV_DIR" "$srv"
  printf 'tampered\n' >"$srv/a.txt"
  http_start "$srv"
  GWMS_HTTP_TOOL=curl gwms_stage_fetch "http://127.0.0.1:${HTTP_PORT}/manifest.sha256" "$MANIFEST_SHA" "$BATS_TEST_TMPDIR/d" || true
  http_stop
  [[ $GWMS_STAGE_ERROR == "a.txt: sha256 mismatch"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/d/a.txt" ]
  [ -z "$(find "$BATS_TEST_TMPDIR/d" -name '*.part')" ]
}
