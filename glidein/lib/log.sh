# shellcheck shell=bash
# glidein/lib/log.sh - structured JSON logging for the glidein, in bash only.
#
# Sourced library: defines functions, runs nothing.
#
# Reads (environment):
#   GWMS_LOG_FILE        local JSON-lines log (one record per line); always written when set
#   GWMS_LOG_SCRIPT      "script" field of records (default: basename of $0)
#   GWMS_LOG_STDERR      minimum severity also echoed to stderr as text (default: warning;
#                        "none" = nothing)
#   GWMS_LOG_URL         log server URL records are POSTed to by gwms_log_flush
#   GWMS_LOG_TOKEN_FILE  file holding the bearer token for GWMS_LOG_URL (never logged)
#   GWMS_LOG_ATTACH_MAX  bytes of a file attached at most (default 1048576; the tail is kept)
#
# Record (one line of JSON, keys in this order):
#   {"time":"2026-01-02T03:04:05.678Z","script":"…","pid":123,"severity":"info",
#    "message":"…"[,"file":{"name":"…","encoding":"gzip+base64","size":N,
#    "truncated":false,"data":"…"}]}
# severity is one of debug, info, warning, error, critical.
# jq is not assumed: strings are escaped by gwms_json_escape.

# gwms_json_escape STRING
# Print STRING as the inside of a JSON string (no quotes): backslash, double quote and
# every control character below 0x20 escaped; bytes of invalid UTF-8 dropped (iconv) or,
# without iconv, every byte >= 0x80 replaced by '?'.
gwms_json_escape() {
  local LC_ALL=C
  local s=$1 i ch code
  if [[ $s == *[$'\200'-$'\377']* ]]; then
    if command -v iconv >/dev/null 2>&1; then
      # "x" guards trailing newlines from the command substitution
      s=$(printf '%sx' "$s" | iconv -c -f UTF-8 -t UTF-8 2>/dev/null) || s=${s//[$'\200'-$'\377']/?}
      s=${s%x}
    else
      s=${s//[$'\200'-$'\377']/?}
    fi
  fi
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  if [[ $s == *[$'\001'-$'\037']* ]]; then
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    s=${s//$'\b'/\\b}
    s=${s//$'\f'/\\f}
    for ((i = 1; i < 32; i++)); do
      printf -v code '%03o' "$i"
      printf -v ch '%b' "\\0${code}"
      if [[ $s == *"$ch"* ]]; then
        printf -v code '\\u%04x' "$i"
        s=${s//"$ch"/$code}
      fi
    done
  fi
  printf '%s' "$s"
}

# gwms_log_now
# Print the current UTC time as 2026-01-02T03:04:05.678Z (milliseconds when the shell
# has EPOCHREALTIME, else .000).
gwms_log_now() {
  local secs frac=000 stamp
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    secs=${EPOCHREALTIME%[.,]*}
    frac=${EPOCHREALTIME#*[.,]}
    frac=${frac:0:3}
  else
    secs=$(date +%s)
  fi
  TZ=UTC printf -v stamp '%(%Y-%m-%dT%H:%M:%S)T' "$secs"
  printf '%s.%sZ' "$stamp" "$frac"
}

# gwms_log_severity_rank SEVERITY
# Print 10/20/30/40/50 for debug/info/warning/error/critical; return 1 on anything else.
gwms_log_severity_rank() {
  case $1 in
    debug) printf '10' ;;
    info) printf '20' ;;
    warning) printf '30' ;;
    error) printf '40' ;;
    critical) printf '50' ;;
    *) return 1 ;;
  esac
}

# gwms_log_record SEVERITY MESSAGE [FILE_JSON [ATTRS_JSON]]
# Print one JSON record (no newline). FILE_JSON and ATTRS_JSON, when given, are the
# already encoded values of the "file" and "attrs" keys.
gwms_log_record() {
  local severity=$1 message=$2 file_json=${3:-} attrs_json=${4:-}
  local now script msg
  now=$(gwms_log_now)
  script=$(gwms_json_escape "${GWMS_LOG_SCRIPT:-${0##*/}}")
  msg=$(gwms_json_escape "$message")
  printf '{"time":"%s","script":"%s","pid":%d,"severity":"%s","message":"%s"' \
    "$now" "$script" "$$" "$severity" "$msg"
  if [[ -n $file_json ]]; then
    printf ',"file":%s' "$file_json"
  fi
  if [[ -n $attrs_json ]]; then
    printf ',"attrs":%s' "$attrs_json"
  fi
  printf '}'
}

# gwms_log_attrs MESSAGE NAME=VALUE...
# Log one info record whose "attrs" object holds the non-empty NAME=VALUE pairs (the log
# server indexes factory, entry, frontend, site, node, job_id from it).
gwms_log_attrs() {
  local message=$1 kv name value json='' record
  shift
  for kv in "$@"; do
    name=${kv%%=*}
    value=${kv#*=}
    [[ $kv == *=* && -n $name && -n $value ]] || continue
    json+="${json:+,}\"$(gwms_json_escape "$name")\":\"$(gwms_json_escape "$value")\""
  done
  record=$(gwms_log_record info "$message" "" "{${json}}")
  gwms_log_write "$record" info "$message"
}

# gwms_log_write RECORD SEVERITY MESSAGE
# Append RECORD to GWMS_LOG_FILE (when set) and echo MESSAGE to stderr when SEVERITY
# reaches GWMS_LOG_STDERR. Never fails the caller.
gwms_log_write() {
  local record=$1 severity=$2 message=$3 rank threshold
  if [[ -n ${GWMS_LOG_FILE:-} ]]; then
    printf '%s\n' "$record" >>"$GWMS_LOG_FILE" 2>/dev/null ||
      printf 'gwms: cannot write log file %s\n' "$GWMS_LOG_FILE" >&2
  fi
  [[ ${GWMS_LOG_STDERR:-warning} == none ]] && return 0
  rank=$(gwms_log_severity_rank "$severity") || rank=20
  threshold=$(gwms_log_severity_rank "${GWMS_LOG_STDERR:-warning}") || threshold=30
  if ((rank >= threshold)); then
    printf '%s %s[%d] %s: %s\n' "$(gwms_log_now)" "${GWMS_LOG_SCRIPT:-${0##*/}}" "$$" \
      "$severity" "$message" >&2
  fi
  return 0
}

# gwms_log SEVERITY MESSAGE...
# Log one record. An unknown severity is logged as "error" with the bad value noted.
gwms_log() {
  local severity=$1 message record
  shift
  message="$*"
  if ! gwms_log_severity_rank "$severity" >/dev/null; then
    message="(unknown severity '${severity}') ${message}"
    severity=error
  fi
  record=$(gwms_log_record "$severity" "$message")
  gwms_log_write "$record" "$severity" "$message"
}

gwms_log_debug() { gwms_log debug "$@"; }
gwms_log_info() { gwms_log info "$@"; }
gwms_log_warning() { gwms_log warning "$@"; }
gwms_log_error() { gwms_log error "$@"; }

# gwms_log_file_json PATH [NAME]
# Print the JSON object for the "file" key: PATH's content (its last GWMS_LOG_ATTACH_MAX
# bytes) gzip-compressed and base64-encoded ("base64" alone when gzip is missing).
gwms_log_file_json() {
  local path=$1 name=${2:-${1##*/}} max=${GWMS_LOG_ATTACH_MAX:-1048576}
  local size encoding data truncated=false
  if [[ ! -r $path ]]; then
    return 1
  fi
  size=$(wc -c <"$path")
  size=${size//[!0-9]/}
  if ((size > max)); then
    truncated=true
  fi
  if command -v gzip >/dev/null 2>&1; then
    encoding=gzip+base64
    data=$(tail -c "$max" "$path" | gzip -c | base64 | tr -d '\n')
  else
    encoding=base64
    data=$(tail -c "$max" "$path" | base64 | tr -d '\n')
  fi
  printf '{"name":"%s","encoding":"%s","size":%d,"truncated":%s,"data":"%s"}' \
    "$(gwms_json_escape "$name")" "$encoding" "$size" "$truncated" "$data"
}

# gwms_log_attach SEVERITY PATH MESSAGE...
# Log one record with PATH attached (see gwms_log_file_json). A missing file is logged
# as a plain record saying so.
gwms_log_attach() {
  local severity=$1 path=$2 message file_json record
  shift 2
  message="$*"
  if ! gwms_log_severity_rank "$severity" >/dev/null; then
    severity=error
  fi
  if ! file_json=$(gwms_log_file_json "$path"); then
    gwms_log "$severity" "${message} (attachment ${path##*/} unreadable)"
    return 0
  fi
  record=$(gwms_log_record "$severity" "$message" "$file_json")
  gwms_log_write "$record" "$severity" "$message (attached ${path##*/})"
}

# gwms_log_flush
# Send the records of GWMS_LOG_FILE not sent yet to GWMS_LOG_URL: one POST, body
# application/x-ndjson, header "Authorization: Bearer <token from GWMS_LOG_TOKEN_FILE>",
# header "X-GWMS-Log-Offset: <byte offset of the first record sent>". The offset reached
# is remembered in GWMS_LOG_FILE.sent. Tracing is switched off while the token is
# handled; the token is passed to curl/wget through a mode-600 file, never on a command
# line. Returns 0 when there is nothing to send or the server answered 2xx, 1 otherwise.
gwms_log_flush() {
  local file=${GWMS_LOG_FILE:-} url=${GWMS_LOG_URL:-}
  local sent=0 size chunk rc
  [[ -n $file && -n $url && -s $file ]] || return 0
  if [[ -r ${file}.sent ]]; then
    read -r sent <"${file}.sent" || true
    [[ $sent =~ ^[0-9]+$ ]] || sent=0
  fi
  size=$(wc -c <"$file")
  size=${size//[!0-9]/}
  ((size > sent)) || return 0
  chunk=$(mktemp "${file}.chunk.XXXXXX") || return 1
  # whole lines only: records written while we read stay for the next flush
  tail -c "+$((sent + 1))" "$file" | head -c "$((size - sent))" >"$chunk"
  if [[ -s $chunk && $(tail -c 1 "$chunk" | od -An -tx1) != *0a* ]]; then
    sed -i '$d' "$chunk"
  fi
  size=$(wc -c <"$chunk")
  size=${size//[!0-9]/}
  rc=0
  gwms_http_post "$url" "$chunk" "${GWMS_LOG_TOKEN_FILE:-}" \
    "Content-Type: application/x-ndjson" "X-GWMS-Log-Offset: ${sent}" || rc=$?
  rm -f "$chunk"
  if ((rc == 0)); then
    printf '%d\n' "$((sent + size))" >"${file}.sent"
    return 0
  fi
  printf 'gwms: log flush to %s failed (records kept locally in %s)\n' "$url" "$file" >&2
  return 1
}
