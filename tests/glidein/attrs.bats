#!/usr/bin/env bats
# glidein/lib/attrs.sh

load helpers

setup() {
  source "${GLIDEIN_DIR}/lib/attrs.sh"
  export GWMS_ATTRS_FILE="${BATS_TEST_TMPDIR}/attrs"
  : >"$GWMS_ATTRS_FILE"
}

@test "set then get; the last value wins; values may hold = and spaces" {
  gwms_attr_set A 1
  gwms_attr_set B 'x = y "z"'
  gwms_attr_set A 2
  [ "$(gwms_attr_get A)" = 2 ]
  [ "$(gwms_attr_get B)" = 'x = y "z"' ]
  run gwms_attr_get MISSING
  [ "$status" -eq 1 ]
}

@test "empty values are kept and distinguished from absence" {
  gwms_attr_set E ''
  run gwms_attr_get E
  [ "$status" -eq 0 ] && [ -z "$output" ]
  [ "$(gwms_attr_default E dflt)" = dflt ]
  [ "$(gwms_attr_default NONE dflt)" = dflt ]
}

@test "bad keys and multi-line values are refused" {
  run gwms_attr_set 'bad key' 1
  [ "$status" -eq 1 ]
  run gwms_attr_set 1abc 1
  [ "$status" -eq 1 ]
  run gwms_attr_set K $'two\nlines'
  [ "$status" -eq 1 ]
  [ ! -s "$GWMS_ATTRS_FILE" ]
}

@test "a key is not matched by its prefix" {
  gwms_attr_set GLIDEIN_CPUS_DETECTED 8
  run gwms_attr_get GLIDEIN_CPUS
  [ "$status" -eq 1 ]
}

@test "merge skips comments and blanks, reports malformed lines, keeps good ones" {
  printf '# comment\n\nA=1\nnot a pair\nB=2\n' >"$BATS_TEST_TMPDIR/p"
  run gwms_attrs_merge "$BATS_TEST_TMPDIR/p"
  [ "$status" -eq 1 ] && [[ $output == *"p:4: not KEY=VALUE"* ]]
  [ "$(gwms_attr_get A)" = 1 ] && [ "$(gwms_attr_get B)" = 2 ]
}

@test "keys are listed once in first-appearance order" {
  gwms_attr_set B 1; gwms_attr_set A 1; gwms_attr_set B 2
  run gwms_attrs_keys
  [ "${lines[0]}" = B ] && [ "${lines[1]}" = A ] && [ "${#lines[@]}" -eq 2 ]
}

@test "ClassAd literals: numbers, booleans, strings with escapes" {
  [ "$(gwms_classad_value 42)" = 42 ]
  [ "$(gwms_classad_value -3)" = -3 ]
  [ "$(gwms_classad_value 1.5e3)" = 1.5e3 ]
  [ "$(gwms_classad_value TRUE)" = true ]
  [ "$(gwms_classad_value Undefined)" = undefined ]
  [ "$(gwms_classad_value 'a b')" = '"a b"' ]
  [ "$(gwms_classad_value 'say "hi" \')" = '"say \"hi\" \\"' ]
  [ "$(gwms_classad_value 1.2.3)" = '"1.2.3"' ]
}

@test "gwms_attrs_classad prints final values as ClassAd lines" {
  gwms_attr_set N 1; gwms_attr_set S x; gwms_attr_set N 2
  run gwms_attrs_classad
  [ "${lines[0]}" = 'N = 2' ] && [ "${lines[1]}" = 'S = "x"' ]
}

@test "gwms_attrs_load: one pass gives what gwms_attr_get gives, last value winning" {
  local f="$BATS_TEST_TMPDIR/attrs" key
  printf 'A=1\nB=x=y\nA=2\n=bad\nnoequals\nC=\n' >"$f"
  local -A m=()
  gwms_attrs_load m "$f"
  [ "${#m[@]}" -eq 3 ]
  for key in A B C; do
    [ "${m[$key]}" = "$(gwms_attr_get "$key" "$f")" ]
  done
  [ "${m[A]}" = 2 ]
  [ "${m[B]}" = x=y ]
}

@test "gwms_classad_value_to sets the variable to what gwms_classad_value prints" {
  local v out
  for v in 42 -3 1.5e3 TRUE Undefined 'a "q" \ b' ''; do
    gwms_classad_value_to out "$v"
    [ "$out" = "$(gwms_classad_value "$v")" ]
  done
  gwms_classad_value_to out 'x"y'
  [ "$out" = '"x\"y"' ]
}
