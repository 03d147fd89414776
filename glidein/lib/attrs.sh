# shellcheck shell=bash
# glidein/lib/attrs.sh - the glidein attribute file (KEY=VALUE lines).
#
# Sourced library: defines functions, runs nothing.
#
# The attribute file (GWMS_ATTRS_FILE) starts with the glidein's parameters and grows as
# scripts append to it; the last line for a key wins. Keys match [A-Za-z_][A-Za-z0-9_]*;
# values are one line. Every key is advertised in the startd's ClassAd (STARTD_ATTRS),
# typed by gwms_classad_value.

# gwms_attr_key_ok KEY
gwms_attr_key_ok() { [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; }

# gwms_attr_set KEY VALUE [FILE]
# Append KEY=VALUE to FILE (default GWMS_ATTRS_FILE). Returns 1 on a bad key or a value
# containing a newline.
gwms_attr_set() {
  local key=$1 value=$2 file=${3:-${GWMS_ATTRS_FILE:-}}
  [[ -n $file ]] || return 1
  gwms_attr_key_ok "$key" || return 1
  [[ $value != *$'\n'* && $value != *$'\r'* ]] || return 1
  printf '%s=%s\n' "$key" "$value" >>"$file"
}

# gwms_attr_get KEY [FILE]
# Print the last value of KEY in FILE (default GWMS_ATTRS_FILE); return 1 when absent.
gwms_attr_get() {
  local key=$1 file=${2:-${GWMS_ATTRS_FILE:-}} line value found=0
  [[ -r $file ]] || return 1
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line == "${key}="* ]]; then
      value=${line#*=}
      found=1
    fi
  done <"$file"
  ((found)) || return 1
  printf '%s' "$value"
}

# gwms_attrs_load NAME [FILE]
# Fill the associative array NAME (declared by the caller: local -A NAME=()) from FILE's
# KEY=VALUE lines in one pass, the last value of a key winning: ${NAME[KEY]} is what
# gwms_attr_get KEY FILE prints, without a subshell and a file scan per key.
gwms_attrs_load() {
  local -n gwms_attrs_map_=$1
  local file=${2:-${GWMS_ATTRS_FILE:-}} line key
  [[ -r $file ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line == *=* ]] || continue
    key=${line%%=*}
    [[ -n $key ]] || continue
    # shellcheck disable=SC2034,SC2004 # a nameref to the caller's associative array
    gwms_attrs_map_[$key]=${line#*=}
  done <"$file"
}

# gwms_attr_default KEY DEFAULT [FILE]
# Print the value of KEY, or DEFAULT when it is absent or empty.
gwms_attr_default() {
  local value
  if value=$(gwms_attr_get "$1" "${3:-}") && [[ -n $value ]]; then
    printf '%s' "$value"
  else
    printf '%s' "$2"
  fi
}

# gwms_attrs_merge SRC [FILE]
# Append the valid KEY=VALUE lines of SRC to FILE; blank lines and lines starting with
# '#' are skipped. Returns 1 (after appending the good lines) when a line is malformed,
# printing its number on stderr.
gwms_attrs_merge() {
  local src=$1 file=${2:-${GWMS_ATTRS_FILE:-}} line number=0 bad=0
  while IFS= read -r line || [[ -n $line ]]; do
    number=$((number + 1))
    [[ -z ${line//[[:space:]]/} || $line == \#* ]] && continue
    if [[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
      printf '%s\n' "$line" >>"$file"
    else
      printf '%s:%d: not KEY=VALUE\n' "${src##*/}" "$number" >&2
      bad=1
    fi
  done <"$src"
  return "$bad"
}

# gwms_attrs_keys [FILE]
# Print each key of FILE once, in first-appearance order.
gwms_attrs_keys() {
  local file=${1:-${GWMS_ATTRS_FILE:-}} line key
  local -A seen=()
  [[ -r $file ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    key=${line%%=*}
    if [[ $line != *=* ]] || ! gwms_attr_key_ok "$key"; then
      continue
    fi
    if [[ -z ${seen[$key]:-} ]]; then
      seen[$key]=1
      printf '%s\n' "$key"
    fi
  done <"$file"
}

# gwms_classad_value VALUE
# Print VALUE as a ClassAd literal: integers, reals, true/false (any case) and
# undefined as they are; anything else as a quoted string with \ and " escaped.
gwms_classad_value() {
  local out
  gwms_classad_value_to out "$1"
  printf '%s' "$out"
}

# gwms_classad_value_to NAME VALUE
# Set the variable NAME to gwms_classad_value VALUE (no subshell).
gwms_classad_value_to() {
  local v=$2
  if [[ $v =~ ^-?[0-9]+$ || $v =~ ^-?[0-9]+\.[0-9]+([eE][-+]?[0-9]+)?$ ]]; then
    printf -v "$1" '%s' "$v"
  elif [[ ${v,,} == true || ${v,,} == false || ${v,,} == undefined ]]; then
    printf -v "$1" '%s' "${v,,}"
  else
    v=${v//\\/\\\\}
    v=${v//\"/\\\"}
    printf -v "$1" '"%s"' "$v"
  fi
}

# gwms_attrs_classad [FILE]
# Print "KEY = <ClassAd literal>" for the final value of every key of FILE.
gwms_attrs_classad() {
  local file=${1:-${GWMS_ATTRS_FILE:-}} key line
  local -A last=()
  local -a order=()
  [[ -r $file ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    key=${line%%=*}
    if [[ $line != *=* ]] || ! gwms_attr_key_ok "$key"; then
      continue
    fi
    [[ -v "last[$key]" ]] || order+=("$key")
    last[$key]=${line#*=}
  done <"$file"
  for key in "${order[@]}"; do
    printf '%s = %s\n' "$key" "$(gwms_classad_value "${last[$key]}")"
  done
}
