# shellcheck shell=bash
# shellcheck disable=SC2016 # $(NAME) in single quotes is HTCondor macro syntax, not shell
# glidein/lib/container.sh - Apptainer/Singularity on the worker node: find it, test it,
# decide the container mode, write the startd knobs that make HTCondor launch jobs in it.
#
# Sourced library: defines functions, runs nothing. Uses lib/attrs.sh (and lib/log.sh
# for gwms_container_exec's diagnostics when it is loaded).
#
# Policy words (docs/containers.md): never, optional, preferred, required. The entry's
# word (GLIDEIN_SINGULARITY_REQUIRE) and the VO's (GLIDEIN_Singularity_Use) combine into a
# mode none|optional|preferred|required|conflict, the same table as
# gwms_core.containers.combine.
#
# Image map (SINGULARITY_IMAGES_DICT): "name:image,name:image"; the name is what a job's
# REQUIRED_OS says, "default" is taken when the job says nothing or names no listed OS.
# The image is split at the first ':' so "docker://..." images keep their own colons.

# gwms_container_combine VO ENTRY
# Print the mode for the VO's and the entry's policy words; return 1 on an unknown word.
gwms_container_combine() {
  local vo=${1,,} entry=${2,,} w rank_vo rank_entry
  for w in "$vo" "$entry"; do
    case $w in
      never | optional | preferred | required) ;;
      *) return 1 ;;
    esac
  done
  if [[ $vo == never || $entry == never ]]; then
    if [[ $vo == required || $entry == required ]]; then
      printf 'conflict'
    else
      printf 'none'
    fi
    return 0
  fi
  rank_vo=$(gwms_container_rank "$vo")
  rank_entry=$(gwms_container_rank "$entry")
  if ((rank_vo >= rank_entry)); then printf '%s' "$vo"; else printf '%s' "$entry"; fi
}

# gwms_container_rank WORD: 1 optional, 2 preferred, 3 required.
gwms_container_rank() {
  case $1 in
    optional) printf 1 ;;
    preferred) printf 2 ;;
    required) printf 3 ;;
    *) printf 0 ;;
  esac
}

# gwms_container_find [CONFIGURED_PATH]
# Print "NAME PATH" of the runtime: CONFIGURED_PATH when it is executable, else apptainer
# then singularity on PATH. Return 1 when there is none.
gwms_container_find() {
  local configured=${1:-} name path
  if [[ -n $configured ]]; then
    [[ -x $configured ]] || return 1
    name=${configured##*/}
    [[ $name == singularity* ]] || name=apptainer
    printf '%s %s' "$name" "$configured"
    return 0
  fi
  for name in apptainer singularity; do
    if path=$(command -v "$name" 2>/dev/null); then
      printf '%s %s' "$name" "$path"
      return 0
    fi
  done
  return 1
}

# gwms_container_version PATH
# Print the runtime's version number ("apptainer version 1.4.1" -> 1.4.1); return 1 when
# `PATH --version` fails or prints no version.
gwms_container_version() {
  local out
  out=$("$1" --version 2>/dev/null) || return 1
  out=${out%%$'\n'*}
  [[ $out =~ ([0-9]+(\.[0-9]+)+[^[:space:]]*) ]] || return 1
  printf '%s' "${BASH_REMATCH[1]}"
}

# gwms_container_images_parse DICT
# Print "name image" lines of an image map "name:image,name:image" (blank items skipped).
# Return 1 when an item has no ':' or an empty name or image.
gwms_container_images_parse() {
  local dict=$1 item name image bad=0
  local -a items=()
  IFS=, read -r -a items <<<"$dict"
  for item in "${items[@]}"; do
    item=${item#"${item%%[![:space:]]*}"}
    item=${item%"${item##*[![:space:]]}"}
    [[ -n $item ]] || continue
    name=${item%%:*}
    image=${item#*:}
    if [[ $item != *:* || -z $name || -z $image || ! $name =~ ^[A-Za-z0-9_.-]+$ ]]; then
      bad=1
      continue
    fi
    printf '%s %s\n' "$name" "$image"
  done
  return "$bad"
}

# gwms_container_allowed IMAGE PREFIXES
# Succeed when IMAGE starts with one of the comma-separated PREFIXES ("*" allows all) and
# contains no "..".
gwms_container_allowed() {
  local image=$1 prefixes=$2 p
  local -a list=()
  [[ $image != *..* ]] || return 1
  IFS=, read -r -a list <<<"$prefixes"
  for p in "${list[@]}"; do
    [[ $p == '*' ]] && return 0
    [[ -n $p && $image == "$p"* ]] && return 0
  done
  return 1
}

# gwms_container_classad_string TEXT: TEXT as a ClassAd string literal.
gwms_container_classad_string() {
  local v=${1//\\/\\\\}
  v=${v//\"/\\\"}
  printf '"%s"' "$v"
}

# gwms_container_image_expr IMAGES_FILE
# Print the ClassAd expression of the job's image: its SingularityImage when it is a
# string, else the image of its REQUIRED_OS from IMAGES_FILE ("name image" lines), else the
# "default" image, else undefined.
gwms_container_image_expr() {
  local file=$1 name image fallback=undefined inner
  while read -r name image; do
    [[ $name == default ]] && fallback=$(gwms_container_classad_string "$image")
  done <"$file"
  inner=$fallback
  while read -r name image; do
    [[ -n $name && $name != default ]] || continue
    inner="ifThenElse(TARGET.REQUIRED_OS =?= $(gwms_container_classad_string "$name"), $(gwms_container_classad_string "$image"), ${inner})"
  done < <(LC_ALL=C sort -r "$file")
  printf 'ifThenElse(isString(TARGET.SingularityImage), TARGET.SingularityImage, %s)' "$inner"
}

# gwms_container_allowed_expr PREFIXES
# Print the ClassAd test that $(GWMS_CONTAINER_IMAGE) is a string, starts with one of the
# comma-separated PREFIXES ("*": any) and has no "..". Comparisons are case-sensitive (=?=).
gwms_container_allowed_expr() {
  local prefixes=$1 p any=0 terms=''
  local -a list=()
  IFS=, read -r -a list <<<"$prefixes"
  for p in "${list[@]}"; do
    [[ -n $p ]] || continue
    if [[ $p == '*' ]]; then
      any=1
      continue
    fi
    terms+="${terms:+ || }(substr(\$(GWMS_CONTAINER_IMAGE), 0, ${#p}) =?= $(gwms_container_classad_string "$p"))"
  done
  ((any)) && terms=true
  printf '(isString($(GWMS_CONTAINER_IMAGE)) && !regexp("[.][.]", $(GWMS_CONTAINER_IMAGE)) && (%s))' \
    "${terms:-false}"
}

# gwms_container_strip_nv ARGS
# Print ARGS without --nv/-nv: HTCondor adds --nv itself when the slot got GPUs
# (AssignedGPUs), so a VO's --nv would reach jobs without GPUs too.
gwms_container_strip_nv() {
  local a out=''
  local -a words=()
  read -r -a words <<<"$1"
  for a in "${words[@]}"; do
    [[ $a == --nv || $a == -nv ]] && continue
    out+="${out:+ }${a}"
  done
  printf '%s' "$out"
}

# gwms_container_config USE MODE BINARY IMAGES_FILE PREFIXES BINDS TARGET_DIR EXTRA_ARGS UNPRIV PIDNS
# Print the startd configuration fragment. USE is true when the runtime works and the
# mode lets jobs run in it (optional, preferred, required); MODE the combined mode;
# BINARY the runtime; IMAGES_FILE the reachable images ("name image" lines); PREFIXES the
# comma-separated allow-list; BINDS comma-separated bind specs; TARGET_DIR the job's
# directory inside the image; EXTRA_ARGS the VO's extra runtime arguments; UNPRIV true when
# the runtime runs without its setuid starter (condor_ssh_to_job then enters only the user
# namespace: SINGULARITY_IS_SETUID = False); PIDNS true when the runtime can give the job
# its own PID namespace (SINGULARITY_USE_PID_NAMESPACES: condor_ssh_to_job's nsenter
# joins the job's PID namespace, which it may only do for one the job's user namespace
# owns).
#
# Jobs that run in a container (SINGULARITY_JOB):
#   optional   the job names an image (SingularityImage)
#   preferred  the job names an image, or the VO has a default for its REQUIRED_OS
#   required   same as preferred; a job with no image at all does not match (START)
# START also refuses a job whose image is outside the allow-list, and, with USE false,
# every job that names an image (it would run in the host's OS instead).
gwms_container_config() {
  local use=$1 mode=$2 binary=$3 images=$4 prefixes=$5 binds=$6 target=$7 extra=$8
  local unpriv=${9:-true} pidns=${10:-false}
  local job gate bind_list=''
  printf '# Containers (glidein/lib/container.sh): mode %s, in use: %s\n' "$mode" "$use"
  if [[ $use != true ]]; then
    printf 'SINGULARITY_JOB = false\n'
    printf 'START = $(START) && (TARGET.SingularityImage =?= undefined)\n'
    return 0
  fi
  printf 'SINGULARITY = %s\n' "$binary"
  printf 'GWMS_CONTAINER_IMAGE = %s\n' "$(gwms_container_image_expr "$images")"
  printf 'GWMS_CONTAINER_IMAGE_ALLOWED = %s\n' "$(gwms_container_allowed_expr "$prefixes")"
  printf 'SINGULARITY_IMAGE_EXPR = $(GWMS_CONTAINER_IMAGE)\n'
  case $mode in
    optional)
      job='isString(TARGET.SingularityImage)'
      gate='(!isString(TARGET.SingularityImage) || $(GWMS_CONTAINER_IMAGE_ALLOWED))'
      ;;
    required)
      job='isString($(GWMS_CONTAINER_IMAGE))'
      gate='$(GWMS_CONTAINER_IMAGE_ALLOWED)'
      ;;
    *)
      job='isString($(GWMS_CONTAINER_IMAGE))'
      gate='(!isString($(GWMS_CONTAINER_IMAGE)) || $(GWMS_CONTAINER_IMAGE_ALLOWED))'
      ;;
  esac
  printf 'SINGULARITY_JOB = %s\n' "$job"
  printf 'START = $(START) && %s\n' "$gate"
  printf 'SINGULARITY_TARGET_DIR = %s\n' "${target:-/srv}"
  bind_list=${binds//,/ }
  printf 'SINGULARITY_BIND_EXPR = %s\n' "$(gwms_container_classad_string "$bind_list")"
  printf 'SINGULARITY_EXTRA_ARGUMENTS = %s\n' \
    "$(gwms_container_classad_string "$(gwms_container_strip_nv "$extra")")"
  printf 'SINGULARITY_USE_PID_NAMESPACES = %s\n' "$([[ $pidns == true ]] && printf True || printf False)"
  printf 'SINGULARITY_IS_SETUID = %s\n' "$([[ $unpriv == true ]] && printf False || printf True)"
  printf 'SINGULARITY_IGNORE_MISSING_BIND_TARGET = True\n'
}

# gwms_container_exec COMMAND...
# Run COMMAND inside the VO's default image with the runtime the glidein detected
# (SINGULARITY_PATH, GWMS_CONTAINER_DEFAULT_IMAGE and GLIDEIN_CONTAINER_BINDS from the
# attribute file): for VO setup and test scripts that must see the job's environment.
# Returns COMMAND's status, or 125 when no container is in use on this glidein.
gwms_container_exec() {
  local binary image binds b
  local -a args=()
  if [[ $(gwms_attr_default HAS_SINGULARITY false) != true ]] ||
    ! binary=$(gwms_attr_get SINGULARITY_PATH) ||
    ! image=$(gwms_attr_get GWMS_CONTAINER_DEFAULT_IMAGE) || [[ -z $image ]]; then
    printf 'gwms_container_exec: no container in use on this glidein\n' >&2
    return 125
  fi
  binds=$(gwms_attr_default GLIDEIN_CONTAINER_BINDS '')
  local -a list=()
  IFS=, read -r -a list <<<"$binds"
  for b in "${list[@]}"; do
    [[ -n $b && -e ${b%%:*} ]] && args+=(-B "$b")
  done
  "$binary" exec --contain --no-home "${args[@]}" "$image" "$@"
}

# gwms_container_ssh_template LIBEXEC
# Print "SSH_TO_JOB_SSHD_CONFIG_TEMPLATE = PATH" when the release of LIBEXEC (…/libexec or
# …/libexec/condor) keeps condor_ssh_to_job's sshd template under lib/condor/ (Debian's
# layout) rather than lib/, where the glidein's $(LIB) points; print nothing otherwise.
gwms_container_ssh_template() {
  local libexec=$1 rel name=condor_ssh_to_job_sshd_config_template
  [[ -n $libexec ]] || return 0
  rel=${libexec%/condor}
  rel=${rel%/libexec}
  if [[ ! -f ${rel}/lib/${name} && -f ${rel}/lib/condor/${name} ]]; then
    printf 'SSH_TO_JOB_SSHD_CONFIG_TEMPLATE = %s\n' "${rel}/lib/condor/${name}"
  fi
}
