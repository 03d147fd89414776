#!/bin/bash
# gwms_container.sh - built-in setup script (factory level): Apptainer/Singularity.
#
# Finds the runtime, tests that it runs the configured images (unprivileged with user
# namespaces, else through a setuid starter), combines the entry's and the VO's container
# policy (docs/containers.md) and writes the startd knobs that make HTCondor launch jobs
# in the image: <work>/condor_config.d/50-container.config (appended by the pilot).
#
# Reads (glidein attributes; defaults in brackets):
#   GLIDEIN_SINGULARITY_REQUIRE   entry policy never|optional|preferred|required [optional;
#                                 GLIDEIN_REQUIRE_CONTAINER=true means required]
#   GLIDEIN_Singularity_Use       VO policy, same words [optional]
#   SINGULARITY_IMAGES_DICT       VO images "os:image,os:image" ("default" for any OS) []
#   GLIDEIN_CONTAINER_ALLOWED_PREFIXES  comma-separated image prefixes, "*" = any [/cvmfs/]
#   GLIDEIN_CONTAINER_BINDS       comma-separated bind specs (src[:dst[:opts]]) []
#   GLIDEIN_CONTAINER_TARGET_DIR  job directory inside the image [/srv]
#   GLIDEIN_CONTAINER_EXTRA_ARGS  VO's extra runtime arguments (--nv is dropped) []
#   GLIDEIN_SINGULARITY_BINARY    runtime path [apptainer, then singularity, on PATH]
#   GWMS_CONDOR_LIBEXEC (environment, from the pilot) to find condor_ssh_to_job's template
# Advertises:
#   HAS_SINGULARITY (true only when jobs may run in a container here), SINGULARITY_PATH,
#   SINGULARITY_VERSION, GLIDEIN_CONTAINER_RUNTIME (apptainer|singularity|none),
#   GLIDEIN_CONTAINER_MODE (unprivileged|privileged|unusable), GLIDEIN_CONTAINER_UNPRIVILEGED,
#   GLIDEIN_CONTAINER_POLICY (none|optional|preferred|required|conflict),
#   GLIDEIN_CONTAINER_IMAGES (names of the images that ran), GWMS_CONTAINER_DEFAULT_IMAGE,
#   GLIDEIN_CONTAINER_PID_NAMESPACES (the runtime can give jobs their own PID namespace),
#   GLIDEIN_CONTAINER_ERROR (why containers are off; empty when on)
# Exit codes: 0 ok; 1 validation failure (policy required but no working runtime, or the
#   entry's and the VO's policies conflict); 2 script error (unknown policy word, bad map)
set -Eeuo pipefail

# shellcheck source=glidein/lib/attrs.sh
source "${GWMS_LIB_DIR}/attrs.sh"
# shellcheck source=glidein/lib/log.sh
source "${GWMS_LIB_DIR}/log.sh"
# shellcheck source=glidein/lib/container.sh
source "${GWMS_LIB_DIR}/container.sh"

# try_image BINARY IMAGE OUT [ARG...]: run /bin/true in IMAGE, then the image's test
# (what HTCondor's starter runs before each job: SINGULARITY_RUN_TEST_BEFORE_JOB);
# output to OUT.
try_image() {
  local binary=$1 image=$2 out=$3
  shift 3
  timeout 120 "$binary" exec "$@" --contain --no-home "$image" /bin/true >"$out" 2>&1 &&
    timeout 120 "$binary" -s test "$@" --contain --no-home "$image" >>"$out" 2>&1
}

# advertise USE MODE REASON: the attributes every outcome advertises.
advertise() {
  gwms_attr_set HAS_SINGULARITY "$1"
  gwms_attr_set GLIDEIN_CONTAINER_POLICY "$2"
  gwms_attr_set GLIDEIN_CONTAINER_ERROR "$3"
}

main() {
  local entry vo mode found tool='' binary='' version='' prefixes binds target extra
  local work=${GWMS_WORK_DIR:-.} images_in images_ok out name image run_mode=unusable
  local flag='' default_image='' names='' tested=0 works=false reason='' use=false pidns=''
  entry=$(gwms_attr_default GLIDEIN_SINGULARITY_REQUIRE optional)
  [[ $(gwms_attr_default GLIDEIN_REQUIRE_CONTAINER false) == true ]] && entry=required
  vo=$(gwms_attr_default GLIDEIN_Singularity_Use optional)
  if ! mode=$(gwms_container_combine "$vo" "$entry"); then
    printf 'container policy: VO %s, entry %s: each must be never|optional|preferred|required\n' \
      "$vo" "$entry"
    return 2
  fi
  prefixes=$(gwms_attr_default GLIDEIN_CONTAINER_ALLOWED_PREFIXES /cvmfs/)
  binds=$(gwms_attr_default GLIDEIN_CONTAINER_BINDS '')
  target=$(gwms_attr_default GLIDEIN_CONTAINER_TARGET_DIR /srv)
  extra=$(gwms_attr_default GLIDEIN_CONTAINER_EXTRA_ARGS '')
  mkdir -p "${work}/condor_config.d" "${work}/log/container"
  images_in=${work}/log/container/images.in
  images_ok=${work}/log/container/images.ok
  : >"$images_ok"
  if ! gwms_container_images_parse "$(gwms_attr_default SINGULARITY_IMAGES_DICT '')" >"$images_in"; then
    printf 'SINGULARITY_IMAGES_DICT: every item must be name:image\n'
    return 2
  fi

  if [[ $mode == none || $mode == conflict ]]; then
    reason="container policy: VO ${vo}, entry ${entry} -> ${mode}"
  elif ! found=$(gwms_container_find "$(gwms_attr_default GLIDEIN_SINGULARITY_BINARY '')"); then
    reason='no apptainer or singularity found'
  else
    read -r tool binary <<<"$found"
    if ! version=$(gwms_container_version "$binary"); then
      reason="${binary} --version failed"
    fi
  fi

  if [[ -z $reason ]]; then
    # Every configured local image must run /bin/true; the first that runs decides how
    # (unprivileged = user namespaces; privileged = the installation's setuid starter).
    while read -r name image; do
      [[ -n $name ]] || continue
      if ! gwms_container_allowed "$image" "$prefixes"; then
        gwms_log warning "container image ${name} (${image}) is outside the allow-list ${prefixes}: not used"
        continue
      fi
      if [[ $image == *://* ]]; then
        printf '%s %s\n' "$name" "$image" >>"$images_ok"
        continue
      fi
      out=${work}/log/container/test-${name}.out
      if ((!tested)); then
        tested=1
        if try_image "$binary" "$image" "$out" --userns; then
          run_mode=unprivileged
          flag=--userns
        elif try_image "$binary" "$image" "${out}.setuid"; then
          run_mode=privileged
        else
          cat "${out}.setuid" >>"$out" 2>/dev/null || true
          gwms_log_attach warning "$out" "container test: ${tool} cannot run image ${name} (${image}) unprivileged or setuid"
          reason="${tool} ${version} cannot run image ${image}"
          break
        fi
      elif ! try_image "$binary" "$image" "$out" ${flag:+"$flag"}; then
        gwms_log_attach warning "$out" "container test: image ${name} (${image}) does not run: not used"
        continue
      fi
      printf '%s %s\n' "$name" "$image" >>"$images_ok"
      if [[ -z $pidns ]]; then
        pidns=false
        timeout 120 "$binary" exec ${flag:+"$flag"} --pid --contain --no-home "$image" /bin/true \
          >/dev/null 2>&1 && pidns=true
      fi
    done <"$images_in"
    if [[ -z $reason ]] && ((!tested)); then
      # No local image to try: user namespaces are the only thing to test.
      if unshare --user --map-root-user /bin/true 2>/dev/null; then
        run_mode=unprivileged
        flag=--userns
      elif compgen -G "${binary%/bin/*}/lib*/${tool}/bin/starter-suid" >/dev/null ||
        compgen -G "${binary%/bin/*}/lib/*/${tool}/bin/starter-suid" >/dev/null; then
        run_mode=privileged
      else
        reason="no user namespaces and no setuid starter for ${tool}"
        gwms_log warning "container test: ${reason}"
      fi
    fi
    [[ -z $reason ]] && works=true
  fi

  gwms_attr_set GLIDEIN_CONTAINER_RUNTIME "${tool:-none}"
  gwms_attr_set GLIDEIN_CONTAINER_MODE "$run_mode"
  gwms_attr_set GLIDEIN_CONTAINER_UNPRIVILEGED "$([[ $run_mode == unprivileged ]] && printf true || printf false)"
  if [[ -n $binary ]]; then
    gwms_attr_set SINGULARITY_PATH "$binary"
    gwms_attr_set SINGULARITY_VERSION "${version:-unknown}"
  fi
  [[ $works == true && $mode != none && $mode != conflict ]] && use=true
  if [[ $use == true ]]; then
    while read -r name image; do
      names+="${names:+,}${name}"
      [[ $name == default ]] && default_image=$image
    done <"$images_ok"
    gwms_attr_set GLIDEIN_CONTAINER_IMAGES "$names"
    gwms_attr_set GWMS_CONTAINER_DEFAULT_IMAGE "$default_image"
    gwms_attr_set GLIDEIN_CONTAINER_BINDS "$binds"
    gwms_attr_set GLIDEIN_CONTAINER_PID_NAMESPACES "${pidns:-false}"
    [[ -n $flag ]] && extra="${flag}${extra:+ ${extra}}"
  fi
  advertise "$use" "$mode" "$reason"
  gwms_container_config "$use" "$mode" "$binary" "$images_ok" "$prefixes" "$binds" \
    "$target" "$extra" "$([[ $run_mode == unprivileged ]] && printf true || printf false)" \
    "${pidns:-false}" >"${work}/condor_config.d/50-container.config"
  # condor_ssh_to_job into container jobs needs the sshd template the release ships
  gwms_container_ssh_template "${GWMS_CONDOR_LIBEXEC:-}" >>"${work}/condor_config.d/50-container.config"

  if [[ $mode == conflict ]]; then
    gwms_log error "container policies conflict (VO ${vo}, entry ${entry}): node not usable"
    printf 'container policies conflict: VO %s, entry %s\n' "$vo" "$entry"
    return 1
  fi
  if [[ $mode == required && $use != true ]]; then
    gwms_log error "container required (VO ${vo}, entry ${entry}) but unavailable: ${reason}"
    printf 'container required but unavailable: %s\n' "$reason"
    return 1
  fi
  gwms_log info "containers: policy ${mode}, in use ${use}${reason:+ (${reason})}; ${tool:-no runtime} ${version} ${run_mode}; images: ${names:-none}"
}

main "$@"
