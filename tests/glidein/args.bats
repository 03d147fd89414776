#!/usr/bin/env bats
# glidein/lib/args.sh

load helpers

SHA=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

setup() {
  source "${GLIDEIN_DIR}/lib/args.sh"
}

@test "required options and defaults" {
  gwms_args_parse --manifest-url http://h/m --manifest-sha256 "$SHA"
  [ "$GWMS_OPT_MANIFEST_URL" = http://h/m ]
  [ "$GWMS_OPT_MANIFEST_SHA256" = "$SHA" ]
  [ "$GWMS_OPT_FAILURE_SLEEP" = 600 ]
  [ "$GWMS_OPT_VALIDATE_ONLY" = 0 ]
  [ "${#GWMS_OPT_PARAMS[@]}" -eq 0 ]
}

@test "every valued option, both --opt value and --opt=value" {
  gwms_args_parse --manifest-url=u --manifest-sha256 "${SHA^^}" --factory f --entry=e \
    --frontend fe --group g --site s --glidein-id id1 --collector cm:9618 \
    --token-file /t --walltime 3600 --log-url http://l --log-token-file /lt \
    --work-dir '/a dir' --failure-sleep 5 --param A=1 --param 'B=x y=z'
  [ "$GWMS_OPT_MANIFEST_SHA256" = "$SHA" ]   # lower-cased
  [ "$GWMS_OPT_ENTRY" = e ]
  [ "$GWMS_OPT_COLLECTOR" = cm:9618 ]
  [ "$GWMS_OPT_WORK_DIR" = '/a dir' ]
  [ "$GWMS_OPT_WALLTIME" = 3600 ]
  [ "$GWMS_OPT_FAILURE_SLEEP" = 5 ]
  [ "${GWMS_OPT_PARAMS[0]}" = A=1 ]
  [ "${GWMS_OPT_PARAMS[1]}" = 'B=x y=z' ]
}

@test "flags" {
  gwms_args_parse --manifest-url u --manifest-sha256 "$SHA" --validate-only --debug
  [ "$GWMS_OPT_VALIDATE_ONLY" = 1 ]
  [ "$GWMS_OPT_DEBUG" = 1 ]
  [ "$GWMS_OPT_KEEP_WORK_DIR" = 1 ]
}

@test "usage errors return 2 with a message" {
  run gwms_args_parse --manifest-sha256 "$SHA"
  [ "$status" -eq 2 ] && [[ $output == *"--manifest-url is required"* ]]
  run gwms_args_parse --manifest-url u --manifest-sha256 abc
  [ "$status" -eq 2 ] && [[ $output == *"64 hex digits"* ]]
  run gwms_args_parse --manifest-url u --manifest-sha256 "$SHA" --bogus
  [ "$status" -eq 2 ] && [[ $output == *"unknown argument"* ]]
  run gwms_args_parse --manifest-url u --manifest-sha256 "$SHA" --entry
  [ "$status" -eq 2 ] && [[ $output == *"needs a value"* ]]
  run gwms_args_parse --manifest-url u --manifest-sha256 "$SHA" --walltime 1h
  [ "$status" -eq 2 ]
  run gwms_args_parse --manifest-url u --manifest-sha256 "$SHA" --param 'bad key=1'
  [ "$status" -eq 2 ] && [[ $output == *"KEY=VALUE"* ]]
}

@test "--help and --version return 3 after printing" {
  run gwms_args_parse --help
  [ "$status" -eq 3 ] && [[ $output == *"--manifest-sha256 HEX"* ]]
  GWMS_VERSION=9.9 run gwms_args_parse --version
  [ "$status" -eq 3 ] && [[ $output == *"9.9"* ]]
}

@test "multi-node: --nodes and --launcher, both default to auto" {
  gwms_args_parse --manifest-url u --manifest-sha256 "$SHA"
  [ "$GWMS_OPT_NODES" = auto ] && [ "$GWMS_OPT_LAUNCHER" = auto ]
  gwms_args_parse --manifest-url u --manifest-sha256 "$SHA" --nodes 04 --launcher=srun
  [ "$GWMS_OPT_NODES" = 4 ] && [ "$GWMS_OPT_LAUNCHER" = srun ]
}

@test "multi-node: a node count below 1 or a foreign launcher is a usage error" {
  local bad
  for bad in 0 -1 two ''; do
    run gwms_args_parse --manifest-url u --manifest-sha256 "$SHA" --nodes "$bad"
    [ "$status" -eq 2 ] || { echo "accepted --nodes '$bad'"; false; }
  done
  run gwms_args_parse --manifest-url u --manifest-sha256 "$SHA" --launcher ssh
  [ "$status" -eq 2 ] && [[ $output == *"--launcher must be"* ]]
}
