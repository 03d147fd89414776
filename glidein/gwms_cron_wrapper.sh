#!/bin/bash
# gwms_cron_wrapper.sh - runs one periodic glidein script as an HTCondor startd cron job.
#
# Installed by glidein_startup.sh as <work>/bin/gwms_cron_wrapper; the startd runs it
# with one argument, the cron job name (STARTD_CRON_<job>_ARGS).
#
# Reads:      <work>/cron/<job>: "<staged name> <level>"; the glidein attribute file
#             <work>/glidein.attrs; libraries from <work>/stage/lib
# Advertises: on stdout, the startd cron protocol: "KEY = literal" lines for every
#             KEY=VALUE the script appended to GWMS_ATTRS_FILE during this run, then
#             GWMS_CRON_<job>_FAILED = true|false (true when the script exits 1: START
#             becomes false until a later run passes), GWMS_CRON_<job>_STATUS = <exit>
# Logs:       one JSON record per run that fails (output attached) into
#             <work>/log/glidein.jsonl
# Exit codes: 0 always when the ClassAd was produced (the startd discards the output of
#             a failing cron job); 2 when the wrapper itself cannot run
set -Eeuo pipefail

main() {
  local job=${1:-} work self conf staged level attrs before rc=0 out
  self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  work=${self%/bin}
  conf=${work}/cron/${job}
  if [[ ! $job =~ ^[A-Za-z0-9_]+$ || ! -r $conf ]]; then
    printf 'gwms_cron_wrapper: unknown cron job %q\n' "$job" >&2
    return 2
  fi
  read -r staged level <"$conf"
  export GWMS_WORK_DIR=$work GWMS_STAGE_DIR=${work}/stage GWMS_LIB_DIR=${work}/stage/lib
  export GWMS_LOG_FILE=${work}/log/glidein.jsonl GWMS_LOG_STDERR=none
  export GWMS_LOG_SCRIPT=$staged GWMS_SCRIPT_LEVEL=$level
  # shellcheck source=glidein/lib/attrs.sh
  source "${GWMS_LIB_DIR}/attrs.sh"
  # shellcheck source=glidein/lib/log.sh
  source "${GWMS_LIB_DIR}/log.sh"
  # The script sees the glidein's attributes; what it appends is this run's output.
  attrs=$(mktemp "${work}/cron/.${job}.attrs.XXXXXX")
  out=${work}/log/scripts/cron_${job}.out
  mkdir -p "${out%/*}"
  cp "${work}/glidein.attrs" "$attrs"
  before=$(wc -l <"$attrs")
  GWMS_ATTRS_FILE=$attrs "${GWMS_STAGE_DIR}/${staged}" </dev/null >"$out" 2>&1 || rc=$?
  tail -n "+$((before + 1))" "$attrs" >"${attrs}.new"
  gwms_attrs_classad "${attrs}.new"
  if ((rc == 1)); then
    printf 'GWMS_CRON_%s_FAILED = true\n' "$job"
    gwms_log_attach error "$out" "periodic script ${staged} (${level}) failed validation (exit 1): no new jobs"
  else
    printf 'GWMS_CRON_%s_FAILED = false\n' "$job"
    if ((rc != 0)); then
      gwms_log_attach error "$out" "periodic script ${staged} (${level}) error (exit ${rc})"
    fi
  fi
  printf 'GWMS_CRON_%s_STATUS = %d\n' "$job" "$rc"
  rm -f "$attrs" "${attrs}.new"
}

main "$@"
