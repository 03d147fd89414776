#!/bin/bash
# End-to-end: user jobs on a pool with no execute node run on glideins that the frontend
# requests and the factory submits to a Slurm site through `batch slurm`.
#
# Hosts (podman containers gwms-e2e-<host> on network gwms-e2e, started by the grid's
# up.sh and deployed with the collection's site playbook from tests/e2e/inventory):
#   cm      collector + negotiator (user pool and WMS collector); the frontend
#   submit  schedd where the user submits
#   slurm   Slurm site (slurmctld, slurmd n1..n4) + schedd of the factory; the factory and
#           the glidein staging area (HTTP)
#   ce      CE-like site (own collector/negotiator, schedd accepting HTCondor-C, a startd)
#
# Usage: sudo tests/e2e/run.sh [--jobs N]   (--jobs 0: deploy only, no workload)
# Environment: GWMS_E2E_VENV   controller venv with ansible (default /var/tmp/gwms-grid-venv;
#                               created from tests/grid/requirements.txt when missing)
#              GWMS_E2E_SKIP_CONVERGE=1  containers already converged (no playbook run)
#              GWMS_E2E_ADHOC=1 deploy the services with ad-hoc commands instead of the
#                               roles (systemd-run units gwms-e2e-*; for debugging)
#              GWMS_E2E_DOWN=1 remove the containers at the end
#              GWMS_E2E_TIMEOUT seconds to wait for the jobs (default 1200)
# Prints the time from submission to the first job running and to the last job done,
# then waits for the glideins to retire and the sites' queues to empty, and prints how
# many jobs ran at each entry. Exit 0 on success.
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-${REPO}/tests/grid/containers.conf}"
# GWMS_E2E_PREFIX runs a second, independent copy side by side (e.g. gwms-e2x-): its own
# containers, network, lock, wheelhouse and logs.
export GWMS_GRID_PREFIX="${GWMS_E2E_PREFIX:-gwms-e2e-}"
export GWMS_GRID_NETWORK="${GWMS_GRID_PREFIX%-}"
export GWMS_GRID_HOSTS="cm submit slurm ce"
readonly P="${GWMS_GRID_PREFIX}"
readonly VENV="${GWMS_E2E_VENV:-/var/tmp/gwms-grid-venv}"
readonly WHEELHOUSE="${GWMS_E2E_WHEELHOUSE:-/var/tmp/${GWMS_GRID_PREFIX}wheelhouse}"
readonly TIMEOUT="${GWMS_E2E_TIMEOUT:-1200}"
readonly TARGET_VENV=/opt/gwms/venv
readonly STAGE_PORT=8080
readonly FACTORY_DIR=/var/lib/gwms-factory
readonly FRONTEND_DIR=/var/lib/gwms-frontend
JOBS=20
T0=${SECONDS}

log() { printf '[e2e %(%H:%M:%S)T +%4ds] %s\n' -1 "$((SECONDS - T0))" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
on() { podman exec "${P}$1" bash -c "$2"; }
onin() { podman exec -i "${P}$1" bash -c "$2"; }
as() { podman exec --user "$2" --workdir /tmp "${P}$1" bash -c "$3"; }

step_grid() {
  log "grid: containers"
  # 9>&-: containers must not inherit the lock (conmon would hold it for their lifetime)
  "${REPO}/tests/grid/up.sh" 9>&-
  if [[ ${GWMS_E2E_SKIP_CONVERGE:-0} == 1 ]]; then
    return 0
  fi
  local playbook=gwms.glideinwms.site
  [[ ${GWMS_E2E_ADHOC:-0} == 1 ]] && playbook=gwms.glideinwms.pool
  log "grid: ${playbook} playbook, tests/e2e/inventory"
  local t=${SECONDS}
  PATH="${VENV}/bin:${PATH}" GWMS_INVENTORY="${HERE}/inventory" GWMS_PLAYBOOK="${playbook}" \
    GWMS_WHEELHOUSE="${WHEELHOUSE}" GWMS_REPO="${REPO}" \
    "${REPO}/tests/grid/converge.sh" >"/tmp/${P}converge.log" 2>&1 ||
    die "playbook failed: /tmp/${P}converge.log"
  grep -E '^[a-z0-9_.-]+ +: ok=' "/tmp/${P}converge.log" >&2 || true
  log "playbook took $((SECONDS - t)) s"
}

# The transient units of an ad-hoc run would take the roles' port and duplicate the
# factory; stop them (and the roles' units before an ad-hoc run).
stop_other_units() {
  local mine=$1 other
  if [[ ${mine} == roles ]]; then other="gwms-e2e-factory gwms-e2e-staging"; else other="gwms-factory gwms-staging"; fi
  on slurm "systemctl stop ${other} 2>/dev/null || true"
  if [[ ${mine} == roles ]]; then other=gwms-e2e-frontend; else other=gwms-frontend; fi
  on cm "systemctl stop ${other} 2>/dev/null || true"
}

# Worker nodes need curl or wget for the glidein to fetch the staging area; the grid
# image has neither.
step_worker_tools() {
  local host
  for host in slurm ce; do
    if ! on "${host}" "command -v curl >/dev/null"; then
      log "${host}: installing curl (worker node requirement)"
      on "${host}" "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null"
    fi
  done
}

# The project wheel plus its dependencies for the containers' Python 3.13 (binary wheels,
# so the hosts need no network). htcondor comes from Debian's python3-htcondor (23.9) via
# --system-site-packages; pip itself runs from its wheel.
step_venv() {
  if [[ ! -x ${VENV}/bin/ansible-playbook ]]; then
    log "controller venv ${VENV}"
    python3 -m venv "${VENV}"
    "${VENV}/bin/pip" install -q --disable-pip-version-check -r "${REPO}/tests/grid/requirements.txt"
  fi
}

step_wheels() {
  log "wheelhouse ${WHEELHOUSE}"
  mkdir -p "${WHEELHOUSE}"
  rm -f "${WHEELHOUSE}"/gwms-*.whl
  # Same sources, same wheel bytes (fixed zip timestamps): the roles reinstall and
  # restart the services only when the code changed.
  SOURCE_DATE_EPOCH=315532800 \
    "${VENV}/bin/pip" wheel -q --disable-pip-version-check --no-deps -w "${WHEELHOUSE}" "${REPO}"
  if [[ ! -f ${WHEELHOUSE}/.deps-ok ]]; then
    "${VENV}/bin/pip" download -q --disable-pip-version-check --only-binary=:all: \
      --python-version 3.13 --implementation cp --platform manylinux2014_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
      -d "${WHEELHOUSE}" pip pluggy jsonschema pyyaml numpy scitokens 2>&1 | grep -v '^WARNING: Location' >&2 || true
    touch "${WHEELHOUSE}/.deps-ok"
  fi
}

install_on() {
  local host=$1
  log "${host}: install into ${TARGET_VENV}"
  on "${host}" "rm -rf /opt/gwms/wheels && mkdir -p /opt/gwms/wheels"
  podman cp "${WHEELHOUSE}/." "${P}${host}:/opt/gwms/wheels/"
  on "${host}" "set -e
    [[ -x ${TARGET_VENV}/bin/python ]] || python3 -m venv --system-site-packages --without-pip ${TARGET_VENV}
    pipwhl=\$(ls /opt/gwms/wheels/pip-*.whl | head -1)
    ${TARGET_VENV}/bin/python \$pipwhl/pip install -q --disable-pip-version-check --no-index \
      --find-links /opt/gwms/wheels pluggy jsonschema pyyaml numpy scitokens
    ${TARGET_VENV}/bin/python \$pipwhl/pip install -q --disable-pip-version-check --no-index \
      --no-deps --force-reinstall /opt/gwms/wheels/gwms-*.whl
    ln -sf ${TARGET_VENV}/bin/gwms /usr/local/bin/gwms
    ${TARGET_VENV}/bin/python -c 'import htcondor2, gwms_core.factory.service, gwms_core.frontend.service'"
}

# An IDTOKEN made on cm for IDENTITY, installed for USER on HOST.
token_for() {
  local host=$1 user=$2 identity=$3 tok
  if on "${host}" "test -s ~${user}/.condor/tokens.d/wms"; then
    return 0
  fi
  tok="$(on cm "condor_token_create -identity ${identity}")"
  onin "${host}" "set -e; h=\$(getent passwd ${user} | cut -d: -f6); install -d -o ${user} -m 700 \$h/.condor \$h/.condor/tokens.d
    umask 077; cat > \$h/.condor/tokens.d/wms; chown ${user} \$h/.condor/tokens.d/wms" <<<"${tok}"
}

step_accounts() {
  log "accounts, tokens and keys (created once)"
  on slurm "id gwmsfact >/dev/null 2>&1 || useradd -m -s /bin/bash gwmsfact
    install -d -o gwmsfact -m 755 ${FACTORY_DIR} ${FACTORY_DIR}/stage"
  on cm "id vofrontend >/dev/null 2>&1 || useradd -m -s /bin/bash vofrontend
    install -d -o vofrontend -m 700 ${FRONTEND_DIR}
    test -s ${FRONTEND_DIR}/POOL || install -o vofrontend -m 600 /etc/condor/passwords.d/POOL ${FRONTEND_DIR}/POOL"
  on submit "id alice >/dev/null 2>&1 || useradd -m -s /bin/bash alice"
  token_for slurm gwmsfact gwmsfact@gwms.test
  token_for cm vofrontend vofrontend@gwms.test
  as slurm gwmsfact "test -s ${FACTORY_DIR}/factory.pem || gwms credentials factory-key ${FACTORY_DIR}/factory.pem"
}

# The staging area: the glidein (pilot, scripts, glidein.params) and its sha256 manifest.
step_staging() {
  log "slurm: staging area, served on :${STAGE_PORT}"
  on slurm "rm -rf /opt/gwms/glidein"
  podman cp "${REPO}/glidein" "${P}slurm:/opt/gwms/glidein"
  as slurm gwmsfact "${TARGET_VENV}/bin/python - <<'EOF'
from pathlib import Path
from gwms_core import staging
files = staging.glidein_files(Path('/opt/gwms/glidein'),
                              params={'GLIDEIN_Max_Idle': 60, 'GLIDEIN_CPUS': 1})
m = staging.build_staging(files, Path('${FACTORY_DIR}/stage'))
print('manifest', m.digest)
EOF"
  on slurm "systemctl is-active -q gwms-e2e-staging || systemd-run --unit gwms-e2e-staging \
    -p User=gwmsfact /usr/bin/python3 -m http.server ${STAGE_PORT} --bind 0.0.0.0 \
    --directory ${FACTORY_DIR}/stage >/dev/null"
}

step_configs() {
  log "configuration (validated with gwms config validate)"
  as slurm gwmsfact "cat > ${FACTORY_DIR}/entries.yaml <<'EOF'
kind: entries
entries:
  SLURM_e2e:
    grid_type: batch
    batch_system: slurm
    gatekeeper: local
    site: E2E_Slurm
    cpus: 1
    memory_mb: 200
    walltime_s: 1800
    allowed_frontends: [vofrontend@gwms.test]
    limits:
      max_glideins: 8
      max_idle: 4
EOF
cat > ${FACTORY_DIR}/factory.yaml <<'EOF'
kind: factory
name: e2e-factory
wms_collector: cm.dns.podman
cycle_seconds: 10
work_dir: ${FACTORY_DIR}
idle_lifetime_s: 1800
staging:
  dir: ${FACTORY_DIR}/stage
  url: http://slurm.dns.podman:${STAGE_PORT}
entry_sources:
  - type: static
    path: entries.yaml
EOF
gwms config validate ${FACTORY_DIR}/factory.yaml ${FACTORY_DIR}/entries.yaml"
  as cm vofrontend "cat > ${FRONTEND_DIR}/frontend.yaml <<'EOF'
kind: frontend
name: vofrontend
wms_collector: cm.dns.podman
cycle_seconds: 10
user_pools:
  - collector: cm.dns.podman
groups:
  main:
    match_expr: glidein.GLIDEIN_CPUS >= job.RequestCpus
    start_expr: \"true\"
    running_glideins_per_entry: {max: 8}
    idle_glideins_per_entry: {max: 4, reserve: 0}
credentials:
  - type: idtokens
    signing_key: ${FRONTEND_DIR}/POOL
    trust_domain: gwms.test
    lifetime_s: 7200
EOF
gwms config validate ${FRONTEND_DIR}/frontend.yaml"
}

step_services() {
  log "services: factory on slurm, frontend on cm (systemd-run)"
  on slurm "systemctl stop gwms-e2e-factory 2>/dev/null; systemctl reset-failed gwms-e2e-factory 2>/dev/null
    systemd-run --unit gwms-e2e-factory -p User=gwmsfact -p WorkingDirectory=${FACTORY_DIR} \
      ${TARGET_VENV}/bin/gwms factory run --config ${FACTORY_DIR}/factory.yaml \
      --key ${FACTORY_DIR}/factory.pem >/dev/null" || true
  on cm "systemctl stop gwms-e2e-frontend 2>/dev/null; systemctl reset-failed gwms-e2e-frontend 2>/dev/null
    systemd-run --unit gwms-e2e-frontend -p User=vofrontend -p WorkingDirectory=${FRONTEND_DIR} \
      ${TARGET_VENV}/bin/gwms frontend run ${FRONTEND_DIR}/frontend.yaml \
      --identity vofrontend@gwms.test >/dev/null" || true
  sleep 2
  on slurm "systemctl is-active gwms-e2e-factory gwms-e2e-staging" >/dev/null ||
    die "factory not running: $(on slurm 'journalctl -u gwms-e2e-factory --no-pager | tail -20')"
  on cm "systemctl is-active gwms-e2e-frontend" >/dev/null ||
    die "frontend not running: $(on cm 'journalctl -u gwms-e2e-frontend --no-pager | tail -20')"
}

# counts on the submit schedd: "idle running done"
CLUSTER=""
# HTCondor's $$(ATTR) macro (the machine's attribute, recorded as MATCH_EXP_<name>).
readonly MACRO='$$'
job_counts() {
  as submit alice "condor_q -const 'ClusterId == ${CLUSTER}' -af JobStatus 2>/dev/null
    condor_history -const 'ClusterId == ${CLUSTER}' -af JobStatus 2>/dev/null" |
    awk '$1==1{i++} $1==2{r++} $1==4{d++} END{printf "%d %d %d\n", i, r, d}'
}

glidein_count() { on cm "condor_status -const '!isUndefined(GLIDEIN_Entry_Name) && PartitionableSlot =?= true' -af Name 2>/dev/null | wc -l"; }
factory_live() { on slurm "condor_q -allusers -const 'JobUniverse == 9 && JobStatus != 3 && JobStatus != 4' -af ClusterId 2>/dev/null | wc -l"; }
slurm_jobs() { on slurm "squeue -h | wc -l"; }
ce_jobs() { on ce "condor_q -allusers -af ClusterId 2>/dev/null | wc -l"; }

step_workload() {
  log "submit: ${JOBS} single-core jobs as alice (only glideins can run them)"
  as submit alice "cat > /tmp/e2e.sub <<'EOF'
universe = vanilla
executable = /bin/sleep
arguments = 20
request_cpus = 1
request_memory = 64
request_disk = 1024
requirements = !isUndefined(TARGET.GLIDEIN_Entry_Name)
+RanAtEntry = \"${MACRO}(GLIDEIN_Entry_Name:none)\"
log = /tmp/e2e.log
queue ${JOBS}
EOF
rm -f /tmp/e2e.log; condor_rm alice >/dev/null 2>&1 || true
condor_submit -terse /tmp/e2e.sub > /tmp/e2e.cluster"
  CLUSTER="$(as submit alice "cut -d. -f1 /tmp/e2e.cluster")"
  log "cluster ${CLUSTER}"
  local t_sub=${SECONDS} t_first="" t_last="" idle running ndone last="" line
  while ((SECONDS - t_sub < TIMEOUT)); do
    read -r idle running ndone < <(job_counts)
    if [[ -z ${t_first} ]] && ((running > 0 || ndone > 0)); then
      t_first=$((SECONDS - t_sub))
      log "first job running after ${t_first} s"
    fi
    line="jobs idle=${idle} running=${running} done=${ndone}; glideins in pool=$(glidein_count) at factory=$(factory_live); slurm jobs=$(slurm_jobs) ce jobs=$(ce_jobs)"
    [[ ${line} != "${last}" ]] && log "${line}"
    last=${line}
    if ((ndone >= JOBS)); then
      t_last=$((SECONDS - t_sub))
      break
    fi
    sleep 5
  done
  [[ -n ${t_last} ]] || die "jobs not done after ${TIMEOUT} s"
  log "last job done after ${t_last} s"
  log "waiting for the glideins to retire and Slurm's queue to empty"
  local t_done=${SECONDS}
  while ((SECONDS - t_done < 600)); do
    if (($(glidein_count) == 0 && $(factory_live) == 0 && $(slurm_jobs) == 0 && $(ce_jobs) == 0)); then
      break
    fi
    sleep 5
  done
  local t_retired=$((SECONDS - t_sub))
  (($(glidein_count) == 0 && $(factory_live) == 0 && $(slurm_jobs) == 0 && $(ce_jobs) == 0)) ||
    die "glideins still there: pool=$(glidein_count) factory=$(factory_live) slurm=$(slurm_jobs) ce=$(ce_jobs)"
  local per_entry
  per_entry="$(as submit alice "condor_history -const 'ClusterId == ${CLUSTER}' -af MATCH_EXP_RanAtEntry" |
    sort | uniq -c | awk '{printf "%s%s=%s", (NR>1?" ":""), $2, $1}')"
  log "jobs per entry: ${per_entry}"
  printf 'E2E RESULT jobs=%d first_running_s=%d last_done_s=%d retired_s=%d entries=%s\n' \
    "${JOBS}" "${t_first}" "${t_last}" "${t_retired}" "${per_entry// /,}"
}

diagnose() {
  log "diagnostics"
  on slurm "journalctl -u gwms-e2e-factory -u gwms-factory --no-pager | tail -30; condor_q -allusers -nobatch | tail -15; squeue" >&2 || true
  on cm "journalctl -u gwms-e2e-frontend -u gwms-frontend --no-pager | tail -20; condor_status -any -af MyType Name" >&2 || true
}

stop_services() {
  on slurm "systemctl stop gwms-e2e-factory gwms-e2e-staging gwms-factory gwms-staging" 2>/dev/null || true
  on cm "systemctl stop gwms-e2e-frontend gwms-frontend" 2>/dev/null || true
}

main() {
  while (($#)); do
    case $1 in
      --jobs) JOBS=$2; shift 2 ;;
      *) die "usage: $0 [--jobs N]" ;;
    esac
  done
  [[ ${EUID} -eq 0 ]] || die "run as root (rootful podman)"
  exec 9>"/run/lock/${P}lock"
  flock -w 3600 9 || die "another tests/e2e/run.sh holds /run/lock/${P}lock"
  trap 'diagnose' ERR
  step_venv
  step_wheels
  if [[ ${GWMS_E2E_ADHOC:-0} == 1 ]]; then
    step_grid
    stop_other_units adhoc
    install_on slurm
    install_on cm
    step_accounts
    step_staging
    step_configs
    step_services
  else
    "${REPO}/tests/grid/up.sh" 9>&-
    stop_other_units roles
    step_grid
    on submit "id alice >/dev/null 2>&1 || useradd -m -s /bin/bash alice"
    # The CE runs the factory's glideins under a local account named like its identity.
    on ce "id gwmsfact >/dev/null 2>&1 || useradd -m -s /bin/bash gwmsfact"
  fi
  step_worker_tools
  if ((JOBS > 0)); then
    step_workload
  else
    log "--jobs 0: deployed, no workload"
  fi
  trap - ERR
  # The roles' services stay up (a deployed system); the ad-hoc units are stopped.
  [[ ${GWMS_E2E_ADHOC:-0} == 1 ]] && stop_services
  if [[ ${GWMS_E2E_DOWN:-0} == 1 ]]; then
    "${REPO}/tests/grid/down.sh"
  fi
  log "total $((SECONDS - T0)) s"
}

main "$@"
