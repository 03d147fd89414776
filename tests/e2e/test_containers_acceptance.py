"""Containers on the local grid: Apptainer 1.4 launched by a glidein's startd (issue 10).

Runs on the deployed end-to-end grid (session fixture ``e2e_grid``). On the ``slurm``
execute host it

* installs Apptainer from Debian sid (a sid source checked without Valid-Until, pinned so
  that only ``apptainer`` comes from it; the source is removed again afterwards, the
  package stays), ``debootstrap`` and ``openssh-server`` from trixie; ``openssh-client``
  on ``submit``;
* builds a Debian 12 (bookworm) minbase once (cached in ``/var/tmp/gwms-ctr-images``):
  a sandbox directory (the VO default image, marked ``vo-default``) and a SIF (the job's
  own image, marked ``custom``);
* starts a glidein by hand (``glidein_startup.sh`` from its own staging area, a pool
  token for ``glidein@gwms.test``) with its own entry name and a ``GLIDEIN_Start`` only
  this module's jobs satisfy, with VO policy ``preferred``; the jobs (user ``alice`` on
  ``submit``) check the image they ran in, the VO default, the allow-list, a VO script run
  inside the image, and ``condor_ssh_to_job``;
* removes the apptainer package, starts a glidein with policy ``required`` and checks it
  fails validation and never joins the pool; reinstalls the package.

Leaves the deployment as it found it: jobs removed, glideins stopped and gone from the
collector, work directories removed (packages, the image cache and the ``ctrpilot``
account stay).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from e2e_helpers import REPO, E2EGrid
from grid_jobs import condor_status

pytestmark = [pytest.mark.grid, pytest.mark.slow]

HOST = "slurm"
BASE = "/var/tmp/gwms-ctr"
IMAGES = "/var/tmp/gwms-ctr-images"
SANDBOX = f"{IMAGES}/bookworm"
SIF = f"{IMAGES}/custom.sif"
DEBS = f"{IMAGES}/debs"
PILOT_USER = "ctrpilot"
ENTRY = "CTR_accept"
ENTRY_REQUIRED = "CTR_required"
UNIT = "gwms-ctr-glidein"
STAGE_UNIT = "gwms-ctr-stage"
STAGE_PORT = 8089
VENV = "/opt/gwms/venv"
HOST_OS = "trixie"

INSTALL_APPTAINER = f"""set -e
export DEBIAN_FRONTEND=noninteractive
mkdir -p {DEBS}
if ! command -v apptainer >/dev/null; then
  if ! ls {DEBS}/apptainer_*.deb >/dev/null 2>&1; then
    cat > /etc/apt/sources.list.d/gwms-ctr-sid.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Check-Valid-Until: no
EOF
    cat > /etc/apt/preferences.d/gwms-ctr-sid <<'EOF'
Package: *
Pin: release n=sid
Pin-Priority: 1

Package: apptainer
Pin: release n=sid
Pin-Priority: 990
EOF
    unsid() {{
      rm -f /etc/apt/sources.list.d/gwms-ctr-sid.sources /etc/apt/preferences.d/gwms-ctr-sid
      apt-get update -qq || true
    }}
    trap unsid EXIT
    apt-get -o Acquire::Check-Valid-Until=false update -qq
    (cd {DEBS} && apt-get download apptainer)
  fi
  apt-get install -y -qq {DEBS}/apptainer_*.deb >/dev/null
fi
for p in debootstrap openssh-server; do
  dpkg -s $p >/dev/null 2>&1 || {{ apt-get update -qq; apt-get install -y -qq $p >/dev/null; }}
done
apptainer --version
"""

# The bookworm root (debootstrap) is kept; the VO default is an Apptainer sandbox built
# from it (it needs /.singularity.d: HTCondor runs `apptainer test` before each job).
ROOTFS = f"{IMAGES}/bookworm.rootfs"
BUILD_IMAGES = f"""set -e
if [ ! -f {ROOTFS}/etc/os-release ]; then
  rm -rf {ROOTFS}.tmp
  debootstrap --variant=minbase bookworm {ROOTFS}.tmp http://deb.debian.org/debian >/dev/null
  mv {ROOTFS}.tmp {ROOTFS}
fi
if [ ! -f {SANDBOX}/etc/gwms-image ]; then
  rm -rf {SANDBOX}.tmp
  apptainer -s build --sandbox {SANDBOX}.tmp {ROOTFS}
  echo vo-default > {SANDBOX}.tmp/etc/gwms-image
  rm -rf {SANDBOX} && mv {SANDBOX}.tmp {SANDBOX}
fi
if [ ! -f {SIF} ]; then
  rm -rf {IMAGES}/custom.tmp && cp -a {ROOTFS} {IMAGES}/custom.tmp
  echo custom > {IMAGES}/custom.tmp/etc/gwms-image
  apptainer -s build {SIF}.tmp {IMAGES}/custom.tmp
  mv {SIF}.tmp {SIF} && rm -rf {IMAGES}/custom.tmp
fi
chmod 755 {IMAGES}
"""

# A VO setup script (frontend level: after the container script) that must run inside
# the image: it advertises what /etc/os-release says there.
VO_SCRIPT = """#!/bin/bash
# ctr_probe.sh - VO test script: runs inside the VO default image.
set -Eeuo pipefail
source "${GWMS_LIB_DIR}/attrs.sh"
source "${GWMS_LIB_DIR}/container.sh"
main() {
  local os
  os=$(gwms_container_exec /bin/sh -c '. /etc/os-release; printf %s "$VERSION_CODENAME"')
  gwms_attr_set VO_CONTAINER_OS "$os"
}
main "$@"
"""

STAGE = f"""set -e
rm -rf {BASE}/stage
{VENV}/bin/python - <<'EOF'
from pathlib import Path
from typing import Any
from gwms_core import staging
scripts = staging.BUILTIN_SCRIPTS + (staging.Script("vo/ctr_probe.sh", "frontend", 10),)
files = staging.glidein_files(Path("{BASE}/glidein"), scripts=scripts,
                              extra={{"vo/ctr_probe.sh": Path("{BASE}/ctr_probe.sh")}},
                              params={{"GLIDEIN_Max_Idle": 900}})
print(staging.build_staging(files, Path("{BASE}/stage")).digest)
EOF
chmod -R a+rX {BASE}
"""


@dataclass(frozen=True)
class Pilot:
    """How to start a glidein by hand on the execute host."""

    digest: str
    #: GLIDEIN_Id prefix of this run's glideins (jobs require it: an ad left behind by an
    #: earlier run cannot attract them)
    run_id: str

    def command(self, entry: str, params: dict[str, str], extra: tuple[str, ...] = ()) -> str:
        args = [f"{BASE}/stage/glidein_startup.sh", "--glidein-id", f"{self.run_id}-{entry}",
                "--manifest-url", f"http://127.0.0.1:{STAGE_PORT}/manifest.sha256",
                "--manifest-sha256", self.digest, "--factory", "ctr-test", "--entry", entry,
                "--frontend", "ctr-test", "--group", "main", "--site", "CTR_Site",
                "--walltime", "1800", "--collector", "cm.dns.podman",
                "--token-file", f"{BASE}/token", "--work-dir", f"{BASE}/work/{entry}",
                "--keep-work-dir", *extra]
        for key, value in params.items():
            args += ["--param", f"{key}={value}"]
        return shlex.join(args)


@pytest.fixture(scope="module")
def ctr(e2e_grid: E2EGrid) -> Iterator[Pilot]:
    """Apptainer, images, a staging area and a pool token on the execute host."""
    g = e2e_grid
    g.run(HOST, INSTALL_APPTAINER, timeout=900)
    g.run(HOST, BUILD_IMAGES, timeout=900)
    g.run("submit", "command -v ssh >/dev/null || { apt-get update -qq && "
                    "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-client "
                    ">/dev/null; }", timeout=600)
    g.run(HOST, f"id {PILOT_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {PILOT_USER}\n"
                f"rm -rf {BASE} && mkdir -p {BASE}/work/{ENTRY} {BASE}/work/{ENTRY_REQUIRED}\n"
                f"chown -R {PILOT_USER} {BASE}/work")
    g.copy(HOST, REPO / "glidein", f"{BASE}/glidein")
    g.run(HOST, f"cat > {BASE}/ctr_probe.sh", stdin=VO_SCRIPT)
    digest = g.out(HOST, STAGE).splitlines()[-1]
    g.run(HOST, f"systemctl stop {STAGE_UNIT} 2>/dev/null; systemctl reset-failed {STAGE_UNIT} "
                f"2>/dev/null; systemd-run --unit {STAGE_UNIT} -p User={PILOT_USER} "
                f"/usr/bin/python3 -m http.server {STAGE_PORT} --bind 127.0.0.1 "
                f"--directory {BASE}/stage >/dev/null")
    token = g.out("cm", "condor_token_create -identity glidein@gwms.test -lifetime 7200")
    g.run(HOST, f"umask 077; cat > {BASE}/token; chown {PILOT_USER} {BASE}/token",
          stdin=token + "\n")
    g.run("submit", "id alice >/dev/null 2>&1 || useradd -m -s /bin/bash alice")
    try:
        yield Pilot(digest, f"ctr-{uuid.uuid4().hex[:8]}")
    finally:
        cleanup(g)


def cleanup(g: E2EGrid) -> None:
    """Jobs removed, glideins stopped and out of the collector, work area removed."""
    g.run("submit", "condor_rm -const 'GwmsCtrTest =?= true' >/dev/null 2>&1 || true",
          user="alice", check=False)
    g.wait_for("the test jobs to leave the queue", lambda: not g.out(
        "submit", "condor_q -allusers -const 'GwmsCtrTest =?= true' -af ClusterId",
        check=False), timeout=120)
    # graceful: the pilot forwards SIGTERM to condor_master, the startd invalidates its ads
    g.run(HOST, f"systemctl stop {UNIT} {STAGE_UNIT} 2>/dev/null; systemctl reset-failed "
                f"{UNIT} {STAGE_UNIT} 2>/dev/null; true", check=False, timeout=200)
    try:
        g.wait_for("the test glideins to leave the collector",
                   lambda: not condor_status(g, 'GLIDEIN_Factory =?= "ctr-test"', "Name"),
                   timeout=60)
    except AssertionError:
        # a startd killed before it could invalidate: remove its ads by hand
        g.run("cm", "printf '%s\\n' 'MyType = \"Query\"' 'TargetType = \"Machine\"' "
                    "'Requirements = GLIDEIN_Factory =?= \"ctr-test\"' > /tmp/ctr-inv.ad && "
                    "condor_advertise INVALIDATE_STARTD_ADS /tmp/ctr-inv.ad && "
                    "condor_advertise INVALIDATE_MASTER_ADS /tmp/ctr-inv.ad; rm -f /tmp/ctr-inv.ad")
        g.wait_for("the test glideins to leave the collector",
                   lambda: not condor_status(g, 'GLIDEIN_Factory =?= "ctr-test"', "Name"),
                   timeout=60)
    g.run(HOST, f"command -v apptainer >/dev/null || apt-get install -y -qq "
                f"{DEBS}/apptainer_*.deb >/dev/null; rm -rf {BASE}", check=False, timeout=300)


@pytest.fixture(scope="module")
def glidein(e2e_grid: E2EGrid, ctr: Pilot) -> dict[str, Any]:
    """A running glidein with VO policy preferred and the bookworm sandbox as default;
    returns its partitionable slot's ad (selected attributes)."""
    g = e2e_grid
    cmd = ctr.command(ENTRY, {
        "GLIDEIN_Singularity_Use": "preferred",
        "SINGULARITY_IMAGES_DICT": f"default:{SANDBOX}",
        "GLIDEIN_CONTAINER_ALLOWED_PREFIXES": f"{IMAGES}/",
        "GLIDEIN_CONTAINER_BINDS": "/etc/hosts",
        "GLIDEIN_CONTAINER_EXTRA_ARGS": "--nv",
        "GLIDEIN_Start": "TARGET.GwmsCtrTest =?= true",
        "GLIDEIN_CPUS": "2", "GLIDEIN_MEMORY": "1000"})
    g.run(HOST, f"systemctl reset-failed {UNIT} 2>/dev/null; systemd-run --unit {UNIT} "
                f"-p User={PILOT_USER} -p WorkingDirectory={BASE}/work {cmd} >/dev/null")
    attrs = ("HAS_SINGULARITY SINGULARITY_VERSION GLIDEIN_CONTAINER_MODE "
             "GLIDEIN_CONTAINER_POLICY GLIDEIN_CONTAINER_IMAGES VO_CONTAINER_OS "
             "HasSingularity GLIDEIN_CONTAINER_ERROR")
    constraint = f'GLIDEIN_Id =?= "{ctr.run_id}-{ENTRY}" && PartitionableSlot =?= true'

    def up() -> bool:
        if g.out(HOST, f"systemctl is-active {UNIT}", check=False) not in ("active",
                                                                             "activating"):
            raise AssertionError("the glidein ended: " + g.out(
                HOST, f"journalctl -u {UNIT} --no-pager | tail -20; cat "
                      f"{BASE}/work/{ENTRY}/glidein.*/log/glidein.jsonl | tail -5",
                check=False))
        return bool(condor_status(g, constraint, "Name"))

    g.wait_for("the container glidein in the pool", up, timeout=300)
    line = g.out("cm", f"condor_status -const {shlex.quote(constraint)} -json "
                       f"-attributes {attrs.replace(' ', ',')}")
    (ad,) = json.loads(line)
    return dict(ad)


SUBMIT = """universe = vanilla
executable = /bin/sh
transfer_executable = false
arguments = "-c '{probe}; {extra}'"
+GwmsCtrTest = true
requirements = TARGET.GLIDEIN_Id =?= "{glidein_id}"
request_cpus = 1
request_memory = 64
request_disk = 1024
should_transfer_files = YES
output = /tmp/ctr/{name}.out
error = /tmp/ctr/{name}.err
log = /tmp/ctr/{name}.log
{image}
queue
"""


PROBE = (". /etc/os-release; echo OS=$VERSION_CODENAME; "
         "echo IMAGE=$(cat /etc/gwms-image 2>/dev/null || echo none); echo PWD=`pwd`")


def submit(grid: E2EGrid, pilot: Pilot, name: str, image: str | None, entry: str = ENTRY,
           extra: str = "true") -> str:
    text = SUBMIT.format(name=name, glidein_id=f"{pilot.run_id}-{entry}", extra=extra,
                         probe=PROBE,
                         image=f'+SingularityImage = "{image}"' if image else "")
    out = grid.out("submit", f"mkdir -p /tmp/ctr && cat > /tmp/ctr/{name}.sub && "
                             f"rm -f /tmp/ctr/{name}.out /tmp/ctr/{name}.log && "
                             f"condor_submit -terse /tmp/ctr/{name}.sub",
                   user="alice", stdin=text)
    return out.split()[0].rstrip(".")


def job_status(grid: E2EGrid, job: str) -> str:
    return grid.out("submit", f"condor_q {job} -af JobStatus; condor_history {job} -limit 1 "
                              "-af JobStatus", user="alice", check=False)


def wait_done(grid: E2EGrid, job: str, name: str) -> dict[str, str]:
    grid.wait_for(f"job {job} to complete", lambda: job_status(grid, job).startswith("4"),
                  timeout=300)
    out = grid.out("submit", f"cat /tmp/ctr/{name}.out", user="alice")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_glidein_detects_unprivileged_apptainer(glidein: dict[str, Any]) -> None:
    assert glidein["HAS_SINGULARITY"] is True
    assert glidein["HasSingularity"] is True  # HTCondor's own check of SINGULARITY agrees
    assert glidein["SINGULARITY_VERSION"].startswith("1.4."), glidein
    assert glidein["GLIDEIN_CONTAINER_MODE"] == "unprivileged"
    assert glidein["GLIDEIN_CONTAINER_POLICY"] == "preferred"
    assert glidein["GLIDEIN_CONTAINER_IMAGES"] == "default"
    assert glidein["GLIDEIN_CONTAINER_ERROR"] == ""


def test_vo_script_ran_inside_the_default_image(glidein: dict[str, Any]) -> None:
    assert glidein["VO_CONTAINER_OS"] == "bookworm"


def test_job_with_an_image_runs_inside_it(e2e_grid: E2EGrid, ctr: Pilot,
                                          glidein: dict[str, Any]) -> None:
    host_os = e2e_grid.out(HOST, ". /etc/os-release; echo $VERSION_CODENAME")
    assert host_os == HOST_OS
    job = submit(e2e_grid, ctr, "own", SIF)
    out = wait_done(e2e_grid, job, "own")
    assert out == {"OS": "bookworm", "IMAGE": "custom", "PWD": "/srv"}


def test_job_without_an_image_gets_the_vo_default(e2e_grid: E2EGrid, ctr: Pilot,
                                                  glidein: dict[str, Any]) -> None:
    job = submit(e2e_grid, ctr, "default", None)
    out = wait_done(e2e_grid, job, "default")
    assert out == {"OS": "bookworm", "IMAGE": "vo-default", "PWD": "/srv"}


def test_image_outside_the_allow_list_does_not_match(e2e_grid: E2EGrid, ctr: Pilot,
                                                     glidein: dict[str, Any]) -> None:
    outside = submit(e2e_grid, ctr, "outside", "/tmp/elsewhere.sif")
    # a job submitted after it, with an allowed image, runs and completes on the same
    # glidein, which has room for both
    later = submit(e2e_grid, ctr, "later", SIF)
    wait_done(e2e_grid, later, "later")
    status = job_status(e2e_grid, outside)
    starts = e2e_grid.out("submit", f"condor_q {outside} -af NumJobStarts", user="alice")
    e2e_grid.run("submit", f"condor_rm {outside}", user="alice")
    assert status.startswith("1"), status  # still idle
    assert starts in ("undefined", "0"), starts


def test_ssh_to_job_lands_inside_the_container(e2e_grid: E2EGrid, ctr: Pilot,
                                               glidein: dict[str, Any]) -> None:
    job = submit(e2e_grid, ctr, "ssh", SIF, extra="sleep 300")
    # the job's own process inside the image (a SIF is unpacked first; before that,
    # condor_nsenter would find only Apptainer's parent process, outside the image)
    e2e_grid.wait_for(f"job {job} to run its command in the image", lambda: e2e_grid.run(
        HOST, f"pgrep -u {PILOT_USER} -x sleep", check=False).returncode == 0, timeout=300)
    # An interactive session: HTCondor enters the container only for a shell, not for a
    # command given on condor_ssh_to_job's command line. The commands are typed once the
    # session has greeted (input sent earlier may reach the pty before the shell reads).
    try:
        lines = ssh_session(e2e_grid, job, "cat /etc/gwms-image; . /etc/os-release; "
                                           "echo CODENAME=$VERSION_CODENAME; echo DIR=$(pwd)")
        assert "custom" in lines, lines
        assert "CODENAME=bookworm" in lines
        assert "DIR=/srv" in lines
    finally:
        e2e_grid.run("submit", f"condor_rm {job}", user="alice", check=False)


def ssh_session(grid: E2EGrid, job: str, command: str, timeout: float = 90) -> list[str]:
    """Output lines of ``command`` typed into an interactive ``condor_ssh_to_job`` session
    (as alice on submit), the shell prompt stripped; the session is ended by us."""
    proc = subprocess.Popen(
        ["podman", "exec", "-i", "--user", "alice", "--workdir", "/tmp",
         grid.container("submit"), "condor_ssh_to_job", "-auto-retry", job],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"CONTAINERS_CONF": str(REPO / "tests/grid/containers.conf"),
             "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for raw in proc.stdout:
            line = raw.removeprefix("$ ").strip()
            lines.append(line)
            if line.startswith("Your condor job is running"):
                time.sleep(2)
                proc.stdin.write(command + "; echo END-OF-SESSION\n")
                proc.stdin.flush()
            if line == "END-OF-SESSION":
                break
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
    return lines


def test_required_without_apptainer_fails_validation(e2e_grid: E2EGrid, ctr: Pilot) -> None:
    g = e2e_grid
    g.run(HOST, "dpkg -r apptainer >/dev/null")
    try:
        assert g.run(HOST, "command -v apptainer", check=False).returncode != 0
        job = submit(g, ctr, "required", None, entry=ENTRY_REQUIRED)
        cmd = ctr.command(ENTRY_REQUIRED, {
            "GLIDEIN_Singularity_Use": "required",
            "SINGULARITY_IMAGES_DICT": f"default:{SANDBOX}",
            "GLIDEIN_CONTAINER_ALLOWED_PREFIXES": f"{IMAGES}/",
            "GLIDEIN_Start": "TARGET.GwmsCtrTest =?= true"}, extra=("--failure-sleep", "0"))
        proc = g.run(HOST, cmd, user=PILOT_USER, check=False, timeout=300)
        assert proc.returncode == 1, proc.stderr
        log = g.out(HOST, f"cat {BASE}/work/{ENTRY_REQUIRED}/glidein.*/log/glidein.jsonl")
        records = [json.loads(line) for line in log.splitlines()]
        errors = [r["message"] for r in records if r["severity"] == "error"]
        assert any(m.startswith("container required (VO required, entry optional) but "
                                "unavailable: no apptainer or singularity found")
                   for m in errors), errors
        assert any("validation failed in scripts/gwms_container.sh" in m for m in errors), errors
        assert not any("condor_master started" in r["message"] for r in records)
        assert not condor_status(g, f'GLIDEIN_Id =?= "{ctr.run_id}-{ENTRY_REQUIRED}"', "Name")
        assert job_status(g, job).startswith("1")  # nobody took it
        g.run("submit", f"condor_rm {job}", user="alice")
    finally:
        g.run(HOST, f"apt-get install -y -qq {DEBS}/apptainer_*.deb >/dev/null", timeout=300)
    assert g.out(HOST, "apptainer --version").startswith("apptainer version 1.4.")


def test_leaves_no_sid_source(e2e_grid: E2EGrid, ctr: Pilot) -> None:
    """Only the named package came from sid: the source is gone, libc is trixie's."""
    out = e2e_grid.out(HOST, "ls /etc/apt/sources.list.d /etc/apt/preferences.d")
    assert "gwms-ctr-sid" not in out
    policy = e2e_grid.out(HOST, "apt-cache policy libc6").splitlines()
    installed = policy[1].split(":", 1)[1].strip()
    candidate = policy[2].split(":", 1)[1].strip()
    assert installed == candidate, policy
