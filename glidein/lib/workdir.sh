# shellcheck shell=bash
# glidein/lib/workdir.sh - the glidein's private work directory.
#
# Sourced library: defines functions, runs nothing.
# A work directory is "<parent>/glidein.XXXXXXXX" made by mktemp -d, mode 700, holding
# the marker file .gwms-workdir; gwms_workdir_cleanup removes only such directories.


# gwms_workdir_candidates [PREFERRED]
# Print candidate parent directories, one per line, in order: PREFERRED (when given),
# $TMPDIR, $_CONDOR_SCRATCH_DIR, the current directory, /tmp, /var/tmp. Relative paths
# are made absolute against the current directory.
gwms_workdir_candidates() {
  local cand
  for cand in "${1:-}" "${TMPDIR:-}" "${_CONDOR_SCRATCH_DIR:-}" "$PWD" /tmp /var/tmp; do
    [[ -n $cand ]] || continue
    [[ $cand == /* ]] || cand=$PWD/$cand
    printf '%s\n' "$cand"
  done
}

# gwms_workdir_create [PREFERRED]
# Create the private work directory under the first usable candidate parent (see
# gwms_workdir_candidates) and print its absolute path. When PREFERRED is given and is
# not usable, no other parent is tried (the caller asked for that place). Returns 1 and
# prints the reasons on stderr when no parent is usable.
gwms_workdir_create() {
  local preferred=${1:-} cand dir
  local -a cands=()
  if [[ -n $preferred ]]; then
    [[ $preferred == /* ]] || preferred=$PWD/$preferred
    cands=("$preferred")
  else
    mapfile -t cands < <(gwms_workdir_candidates '')
  fi
  for cand in "${cands[@]}"; do
    if [[ ! -d $cand ]]; then
      printf 'work dir parent %s: not a directory\n' "$cand" >&2
      continue
    fi
    if [[ ! -w $cand || ! -x $cand ]]; then
      printf 'work dir parent %s: not writable\n' "$cand" >&2
      continue
    fi
    if ! dir=$(TMPDIR=$cand mktemp -d "${cand%/}/glidein.XXXXXXXX" 2>/dev/null); then
      printf 'work dir parent %s: mktemp failed\n' "$cand" >&2
      continue
    fi
    chmod 700 "$dir"
    : >"${dir}/.gwms-workdir"
    printf '%s' "$dir"
    return 0
  done
  return 1
}

# gwms_workdir_cleanup DIR
# Remove DIR when it is a work directory made by gwms_workdir_create (marker present);
# refuse anything else (return 1).
gwms_workdir_cleanup() {
  local dir=$1
  [[ -n $dir && $dir == /* && ${dir##*/} == glidein.* ]] || return 1
  [[ -d $dir && -e ${dir}/.gwms-workdir ]] || return 1
  chmod -R u+rwx "$dir" 2>/dev/null || true
  rm -rf -- "$dir"
}
