#!/usr/bin/env bats
# glidein/lib/workdir.sh

load helpers

setup() {
  source "${GLIDEIN_DIR}/lib/workdir.sh"
}

@test "creates a private directory under TMPDIR, even with spaces in its path" {
  local parent="${BATS_TEST_TMPDIR}/with space"
  mkdir -p "$parent"
  local dir
  dir=$(TMPDIR=$parent gwms_workdir_create)
  [[ $dir == "$parent"/glidein.* ]]
  [ -d "$dir" ]
  [ "$(stat -c %a "$dir")" = 700 ]
  [ -e "$dir/.gwms-workdir" ]
}

@test "an explicit relative parent is made absolute" {
  cd "$BATS_TEST_TMPDIR"
  mkdir -p rel
  local dir
  dir=$(gwms_workdir_create rel)
  [[ $dir == "$BATS_TEST_TMPDIR/rel/glidein."* ]]
}

@test "unusable TMPDIR falls through to the next candidate" {
  cd "$BATS_TEST_TMPDIR"
  local dir
  dir=$(TMPDIR=/nonexistent/x gwms_workdir_create 2>/dev/null)
  [[ $dir == "$BATS_TEST_TMPDIR"/glidein.* ]]
}

@test "an unusable explicit parent fails without trying others" {
  run gwms_workdir_create /nonexistent/x
  [ "$status" -eq 1 ]
  [[ $output == *"not a directory"* ]]
}

@test "a read-only parent is refused" {
  if ((EUID == 0)); then skip "root can write read-only directories"; fi
  mkdir -p "$BATS_TEST_TMPDIR/ro" && chmod 500 "$BATS_TEST_TMPDIR/ro"
  run gwms_workdir_create "$BATS_TEST_TMPDIR/ro"
  [ "$status" -eq 1 ]
}

@test "cleanup removes work dirs, including read-only content" {
  local dir
  dir=$(TMPDIR=$BATS_TEST_TMPDIR gwms_workdir_create)
  mkdir -p "$dir/a/b" && touch "$dir/a/b/f" && chmod 500 "$dir/a/b"
  gwms_workdir_cleanup "$dir"
  [ ! -e "$dir" ]
}

@test "cleanup refuses directories it did not make" {
  mkdir -p "$BATS_TEST_TMPDIR/glidein.other" "$BATS_TEST_TMPDIR/data"
  touch "$BATS_TEST_TMPDIR/data/.gwms-workdir"
  run gwms_workdir_cleanup "$BATS_TEST_TMPDIR/glidein.other"
  [ "$status" -eq 1 ] && [ -d "$BATS_TEST_TMPDIR/glidein.other" ]
  run gwms_workdir_cleanup "$BATS_TEST_TMPDIR/data"
  [ "$status" -eq 1 ] && [ -d "$BATS_TEST_TMPDIR/data" ]
  run gwms_workdir_cleanup relative/glidein.x
  [ "$status" -eq 1 ]
  run gwms_workdir_cleanup ""
  [ "$status" -eq 1 ]
}

@test "candidates: order and absolute paths" {
  cd "$BATS_TEST_TMPDIR"
  run env -u _CONDOR_SCRATCH_DIR TMPDIR=tmpd bash -c "source '${GLIDEIN_DIR}/lib/workdir.sh'; gwms_workdir_candidates pref"
  [ "${lines[0]}" = "$BATS_TEST_TMPDIR/pref" ]
  [ "${lines[1]}" = "$BATS_TEST_TMPDIR/tmpd" ]
  [ "${lines[2]}" = "$BATS_TEST_TMPDIR" ]
  [ "${lines[3]}" = /tmp ]
}
