# shellcheck shell=bash
# shellcheck disable=SC2034 # GWMS_STAGE_* globals are this library's output
# glidein/lib/stage.sh - download the staging area and verify it against its manifest.
#
# Sourced library: defines functions, runs nothing.
# Manifest format (gwms_core/staging.py, docs/glidein.md): lines "<sha256>  <name>",
# sha256 = 64 lower-case hex digits, name = relative path of [A-Za-z0-9._+-] components.
# Uses gwms_fetch (lib/http.sh) and gwms_log (lib/log.sh).
#
# Sets: GWMS_STAGE_NAMES / GWMS_STAGE_SUMS (arrays, manifest order),
#       GWMS_STAGE_PREFETCHED (indexes fetched by the one-curl fast path) and
#       GWMS_STAGE_ERROR (text of the last failure, naming the file).

# gwms_sha256_file FILE
# Print the hex sha256 of FILE using sha256sum, shasum, openssl or python3, whichever
# exists first. Returns 1 when none does or FILE is unreadable.
gwms_sha256_file() {
  local file=$1 out
  [[ -r $file ]] || return 1
  if command -v sha256sum >/dev/null 2>&1; then
    out=$(sha256sum -b <"$file") || return 1
  elif command -v shasum >/dev/null 2>&1; then
    out=$(shasum -a 256 -b <"$file") || return 1
  elif command -v openssl >/dev/null 2>&1; then
    out=$(openssl dgst -sha256 -r <"$file") || return 1
  elif command -v python3 >/dev/null 2>&1; then
    out=$(python3 -c 'import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())' <"$file") || return 1
  else
    return 1
  fi
  out=${out%% *}
  [[ $out =~ ^[0-9a-f]{64}$ ]] || return 1
  printf '%s' "$out"
}

# gwms_stage_check_name NAME
# Succeed when NAME is a safe staged name (relative, no empty/./.. component, only
# [A-Za-z0-9._+-] and '/').
gwms_stage_check_name() {
  local name=$1 part
  local -a parts
  [[ -n $name && $name != /* && $name != */ && $name =~ ^[A-Za-z0-9._+/-]+$ ]] || return 1
  IFS=/ read -r -a parts <<<"$name"
  for part in "${parts[@]}"; do
    [[ -n $part && $part != . && $part != .. ]] || return 1
  done
  [[ $name != manifest.sha256 ]]
}

# gwms_stage_parse_manifest FILE
# Read FILE into GWMS_STAGE_NAMES / GWMS_STAGE_SUMS. Returns 1 with GWMS_STAGE_ERROR
# naming the first bad line.
gwms_stage_parse_manifest() {
  local file=$1 line number=0 sum name
  GWMS_STAGE_NAMES=()
  GWMS_STAGE_SUMS=()
  GWMS_STAGE_ERROR=
  while IFS= read -r line || [[ -n $line ]]; do
    number=$((number + 1))
    if [[ ! $line =~ ^([0-9a-f]{64})\ \ ([^[:space:]]+)$ ]]; then
      GWMS_STAGE_ERROR="manifest.sha256 line ${number}: not '<sha256>  <name>'"
      return 1
    fi
    sum=${BASH_REMATCH[1]}
    name=${BASH_REMATCH[2]}
    if ! gwms_stage_check_name "$name"; then
      GWMS_STAGE_ERROR="manifest.sha256 line ${number}: unsafe file name"
      return 1
    fi
    GWMS_STAGE_SUMS+=("$sum")
    GWMS_STAGE_NAMES+=("$name")
  done <"$file"
  return 0
}

# gwms_stage_verify_file FILE EXPECTED NAME
# Succeed when FILE's sha256 is EXPECTED; otherwise set GWMS_STAGE_ERROR naming NAME
# and both digests, and return 1.
gwms_stage_verify_file() {
  local file=$1 expected=$2 name=$3 actual
  if ! actual=$(gwms_sha256_file "$file"); then
    GWMS_STAGE_ERROR="${name}: cannot compute sha256 (no sha256sum/shasum/openssl/python3?)"
    return 1
  fi
  if [[ $actual != "$expected" ]]; then
    GWMS_STAGE_ERROR="${name}: sha256 mismatch (expected ${expected}, got ${actual})"
    return 1
  fi
  return 0
}

# gwms_stage_prefetch BASE_URL DEST_DIR
# Fast path for the files of GWMS_STAGE_NAMES (pilot start-up time, docs/latency.md):
# when the HTTP tool is curl and GWMS_STAGE_BATCH is not 0, one curl process fetches
# every file (one process instead of one per file; curl reuses the connection when the
# server allows it) and one sha256sum checks them all. Sets GWMS_STAGE_PREFETCHED[i]=1
# for each file that arrived with the manifest's digest (moved into place); anything
# else is left absent for the caller's per-file download, retries and error report.
# Never fails.
gwms_stage_prefetch() {
  local base=$1 dest=$2 i name sum file
  local -a args=() parts=()
  GWMS_STAGE_PREFETCHED=()
  [[ ${GWMS_STAGE_BATCH:-1} != 0 && ${#GWMS_STAGE_NAMES[@]} -gt 0 ]] || return 0
  [[ $(gwms_http_tool 2>/dev/null) == curl ]] || return 0
  command -v sha256sum >/dev/null 2>&1 || return 0
  for name in "${GWMS_STAGE_NAMES[@]}"; do
    args+=(-o "${dest}/${name}.part" "${base}/${name}")
    parts+=("${dest}/${name}.part")
  done
  curl -fsSL --connect-timeout 30 --max-time "${GWMS_HTTP_TIMEOUT:-120}" "${args[@]}" \
    2>/dev/null || true
  declare -A got=()
  while read -r sum file; do
    got[${file#\*}]=$sum
  done < <(sha256sum -b -- "${parts[@]}" 2>/dev/null || true)
  for i in "${!GWMS_STAGE_NAMES[@]}"; do
    file=${parts[$i]}
    if [[ ${got[$file]:-} == "${GWMS_STAGE_SUMS[$i]}" ]]; then
      mv -f "$file" "${file%.part}"
      GWMS_STAGE_PREFETCHED[i]=1
    else
      rm -f "$file"
    fi
  done
  return 0
}

# gwms_stage_fetch MANIFEST_URL MANIFEST_SHA256 DEST_DIR
# Download the manifest, check it against MANIFEST_SHA256, then download every file it
# names (relative to the manifest's URL) into DEST_DIR, checking each as it arrives.
# Stops at the first failure: a file that fails its check is removed, GWMS_STAGE_ERROR
# names it, and the function returns 1. Nothing downloaded is executed here.
gwms_stage_fetch() {
  local url=$1 expected=$2 dest=$3 base i name err
  base=${url%/*}
  GWMS_STAGE_ERROR=
  mkdir -p "$dest"
  if ! gwms_fetch "$url" "${dest}/manifest.sha256"; then
    err=$(head -c 300 "${dest}/manifest.sha256.err" 2>/dev/null || true)
    GWMS_STAGE_ERROR="manifest.sha256: download from ${url} failed: ${err}"
    return 1
  fi
  if ! gwms_stage_verify_file "${dest}/manifest.sha256" "$expected" manifest.sha256; then
    rm -f "${dest}/manifest.sha256"
    return 1
  fi
  gwms_stage_parse_manifest "${dest}/manifest.sha256" || return 1
  for name in "${GWMS_STAGE_NAMES[@]}"; do
    if [[ $name == */* ]]; then
      mkdir -p "${dest}/${name%/*}"
    fi
  done
  gwms_stage_prefetch "$base" "$dest"
  for i in "${!GWMS_STAGE_NAMES[@]}"; do
    name=${GWMS_STAGE_NAMES[$i]}
    if [[ -n ${GWMS_STAGE_PREFETCHED[$i]:-} ]]; then
      continue
    fi
    if ! gwms_fetch "${base}/${name}" "${dest}/${name}"; then
      err=$(head -c 300 "${dest}/${name}.err" 2>/dev/null || true)
      GWMS_STAGE_ERROR="${name}: download from ${base}/${name} failed: ${err}"
      return 1
    fi
    if ! gwms_stage_verify_file "${dest}/${name}" "${GWMS_STAGE_SUMS[$i]}" "$name"; then
      rm -f "${dest}/${name}"
      return 1
    fi
  done
  if declare -F gwms_log >/dev/null; then
    gwms_log info "staging verified: ${#GWMS_STAGE_NAMES[@]} file(s) from ${base}"
  fi
  return 0
}
