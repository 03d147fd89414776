# shellcheck shell=bash
# glidein/lib/http.sh - HTTP(S) download and upload with curl, wget or python3.
#
# Sourced library: defines functions, runs nothing.
#
# Reads (environment):
#   GWMS_HTTP_TOOL      force "curl", "wget" or "python3" (default: the first present;
#                       python3's urllib is the fallback for nodes with neither client)
#   GWMS_FETCH_TRIES    attempts per download (default 4)
#   GWMS_FETCH_DELAY    seconds before the first retry, doubled each time (default 2)
#   GWMS_HTTP_TIMEOUT   seconds per attempt (default 120)
#   GWMS_WORK_DIR       where mode-600 helper files holding a token are created
# Uses: gwms_log (lib/log.sh) when defined.

# gwms_http_tool
# Print the HTTP client to use ("curl", "wget" or "python3"); return 1 when none exists.
gwms_http_tool() {
  local tool=${GWMS_HTTP_TOOL:-}
  if [[ -n $tool ]]; then
    command -v "$tool" >/dev/null 2>&1 || return 1
    printf '%s' "$tool"
    return 0
  fi
  for tool in curl wget python3; do
    if command -v "$tool" >/dev/null 2>&1; then
      printf '%s' "$tool"
      return 0
    fi
  done
  return 1
}

# gwms_http_get_once TOOL URL DEST
# One download attempt; DEST is written only on success (via DEST.part).
gwms_http_get_once() {
  local tool=$1 url=$2 dest=$3 timeout=${GWMS_HTTP_TIMEOUT:-120} rc=0
  case $tool in
    curl)
      curl -fsSL --connect-timeout 30 --max-time "$timeout" -o "${dest}.part" "$url" \
        2>"${dest}.err" || rc=$?
      ;;
    wget)
      wget -nv --tries=1 --timeout="$timeout" -O "${dest}.part" "$url" \
        2>"${dest}.err" || rc=$?
      ;;
    python3)
      python3 - "$url" "${dest}.part" "$timeout" 2>"${dest}.err" <<'PY' || rc=$?
import shutil, sys, urllib.request
url, dest, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
try:
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out)
except Exception as exc:  # any failure: report it and exit like curl -f
    sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
    sys.exit(22)
PY
      ;;
    *) rc=2 ;;
  esac
  if ((rc == 0)); then
    mv -f "${dest}.part" "$dest"
    rm -f "${dest}.err"
  else
    rm -f "${dest}.part"
    printf '(%s exit status %d)\n' "$tool" "$rc" >>"${dest}.err"
  fi
  return "$rc"
}

# gwms_fetch URL DEST
# Download URL to DEST, retrying GWMS_FETCH_TRIES times with doubling delays. On final
# failure the client's last error text is in DEST.err and the function returns 1.
gwms_fetch() {
  local url=$1 dest=$2 tool tries=${GWMS_FETCH_TRIES:-4} delay=${GWMS_FETCH_DELAY:-2}
  local attempt rc
  if ! tool=$(gwms_http_tool); then
    printf 'neither curl nor wget found on PATH\n' >"${dest}.err"
    return 1
  fi
  for ((attempt = 1; attempt <= tries; attempt++)); do
    rc=0
    gwms_http_get_once "$tool" "$url" "$dest" || rc=$?
    if ((rc == 0)); then
      return 0
    fi
    if ((attempt < tries)); then
      if declare -F gwms_log >/dev/null; then
        gwms_log debug "download of ${url} failed (${tool} exit ${rc}), attempt ${attempt}/${tries}; retrying in ${delay}s"
      fi
      sleep "$delay"
      delay=$((delay * 2))
    fi
  done
  return 1
}

# gwms_http_read_token FILE
# Print the token in FILE with surrounding whitespace removed. Caller must have tracing
# off. Returns 1 when FILE is unreadable or empty.
gwms_http_read_token() {
  local file=$1 token=
  [[ -r $file ]] || return 1
  IFS= read -r -d '' token <"$file" || true
  token=${token//[[:space:]]/}
  [[ -n $token ]] || return 1
  printf '%s' "$token"
}

# gwms_http_post URL BODY_FILE TOKEN_FILE [HEADER...]
# POST BODY_FILE to URL with the extra HEADERs; when TOKEN_FILE is not empty, add
# "Authorization: Bearer <token>". The token goes to the client through a mode-600
# file (curl -H @file, wget through a private WGETRC), never through argv or a log,
# and xtrace is off while it is handled. Returns 0 on a 2xx answer.
gwms_http_post() {
  local url=$1 body=$2 token_file=$3 tool rc=0 xtrace='' hdr='' header
  shift 3
  tool=$(gwms_http_tool) || return 1
  [[ $- == *x* ]] && xtrace=1
  { set +x; } 2>/dev/null
  if [[ -n $token_file ]]; then
    hdr=$(umask 077 && mktemp "${GWMS_WORK_DIR:-${TMPDIR:-/tmp}}/.gwms-auth.XXXXXX") || {
      [[ -n $xtrace ]] && set -x
      return 1
    }
    local token
    if ! token=$(gwms_http_read_token "$token_file"); then
      rm -f "$hdr"
      [[ -n $xtrace ]] && set -x
      return 1
    fi
    if [[ $tool == wget ]]; then
      printf 'header = Authorization: Bearer %s\n' "$token" >"$hdr"
    else
      printf 'Authorization: Bearer %s\n' "$token" >"$hdr"
    fi
    token=
  fi
  case $tool in
    curl)
      local -a args=(-fsS --connect-timeout 30 --max-time "${GWMS_HTTP_TIMEOUT:-120}"
        -X POST --data-binary "@${body}" -o /dev/null)
      [[ -n $hdr ]] && args+=(-H "@${hdr}")
      for header in "$@"; do args+=(-H "$header"); done
      curl "${args[@]}" "$url" 2>/dev/null || rc=$?
      ;;
    wget)
      local -a args=(-q --tries=1 --timeout="${GWMS_HTTP_TIMEOUT:-120}"
        --post-file="$body" -O /dev/null)
      for header in "$@"; do args+=("--header=${header}"); done
      if [[ -n $hdr ]]; then
        WGETRC=$hdr wget "${args[@]}" "$url" 2>/dev/null || rc=$?
      else
        wget "${args[@]}" "$url" 2>/dev/null || rc=$?
      fi
      ;;
    python3)
      python3 - "$url" "$body" "${hdr:-}" "${GWMS_HTTP_TIMEOUT:-120}" "$@" 2>/dev/null <<'PY' || rc=$?
import sys, urllib.request
url, body, hdr, timeout, *headers = sys.argv[1:]
if hdr:
    with open(hdr) as fh:
        headers.append(fh.read().strip())
with open(body, "rb") as fh:
    req = urllib.request.Request(url, data=fh.read(), method="POST")
for header in headers:
    key, _, value = header.partition(":")
    req.add_header(key.strip(), value.strip())
try:
    urllib.request.urlopen(req, timeout=float(timeout)).read()
except Exception:
    sys.exit(22)
PY
      ;;
  esac
  [[ -n $hdr ]] && rm -f "$hdr"
  [[ -n $xtrace ]] && set -x
  return "$rc"
}
