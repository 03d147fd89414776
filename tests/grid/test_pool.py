"""Checks on the converged local grid: real HTCondor and Slurm daemons in podman containers.

Bring the grid up and converge it first (``.ci/grid.sh`` does all of it)::

    tests/grid/up.sh && tests/grid/converge.sh && python -m pytest -m grid tests/grid

Without a running grid these tests are skipped, unless ``GWMS_GRID_REQUIRED=1`` (set by
``.ci/grid.sh``), which turns a missing grid into a failure (see conftest.py).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.grid

GRID_DIR = Path(__file__).resolve().parent
PREFIX = os.environ.get("GWMS_GRID_PREFIX", "gwms-")
DOMAIN = os.environ.get("GWMS_GRID_DOMAIN", "dns.podman")
TRUST_DOMAIN = os.environ.get("GWMS_GRID_TRUST_DOMAIN", "gwms.test")
USER = "gwmsuser"
JOB_TIMEOUT = int(os.environ.get("GWMS_GRID_JOB_TIMEOUT", "300"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(GRID_DIR / "containers.conf"))
    return env


def run(
    host: str,
    command: str,
    *,
    user: str | None = None,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a shell command in a grid container, as root or as a login shell of ``user``."""
    if user is not None:
        command = f"runuser -l {shlex.quote(user)} -c {shlex.quote(command)}"
    argv = ["podman", "exec", "-i", f"{PREFIX}{host}", "/bin/bash", "-c", command]
    proc = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{host}$ {command}\nexit {proc.returncode}\nstdout:\n{proc.stdout}\n"
            f"stderr:\n{proc.stderr}"
        )
    return proc


def wait_for(what: str, probe: Callable[[], str | None], timeout: float) -> str:
    """Poll ``probe`` until it returns a non-empty string; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: str | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(3)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def user() -> str:
    """An unprivileged account with the same name and uid on the hosts where users act."""
    for host in ("submit", "ce", "slurm"):
        run(host, f"id -u {USER} >/dev/null 2>&1 || useradd --create-home --uid 5001 {USER}")
    return USER


def _job_dir(host: str, user: str) -> str:
    path = f"/home/{user}/test-{uuid.uuid4().hex[:8]}"
    run(host, f"mkdir -p {path}", user=user)
    return path


def _wait_condor_job(host: str, user: str, job_dir: str) -> str:
    """Wait for the job logged in job_dir/job.log to terminate; return the log."""
    proc = run(
        host,
        f"cd {job_dir} && condor_wait -wait {JOB_TIMEOUT} job.log",
        user=user,
        check=False,
        timeout=JOB_TIMEOUT + 30,
    )
    log = run(host, f"cat {job_dir}/job.log", user=user).stdout
    if proc.returncode != 0:
        queue = run(host, "condor_q -all -long", check=False).stdout
        raise AssertionError(f"job did not finish on {host}:\n{log}\n--- queue:\n{queue}")
    return log


def test_central_manager_lists_collector_negotiator_schedd_and_startd_ads() -> None:
    wanted = {"Collector", "Negotiator", "Scheduler", "Machine", "DaemonMaster"}

    def probe() -> str | None:
        out = run("cm", "condor_status -any -af MyType Name", check=False).stdout
        types = {line.split()[0] for line in out.splitlines() if line.strip()}
        return out if wanted <= types else None

    out = wait_for("all daemon ads on cm's collector", probe, timeout=120)
    assert f"Scheduler submit.{DOMAIN}" in out
    assert re.search(rf"^Machine slot1@execute\.{re.escape(DOMAIN)}$", out, re.MULTILINE), out


def test_vanilla_job_by_unprivileged_user_completes_on_execute_node(user: str) -> None:
    job_dir = _job_dir("submit", user)
    submit_file = (
        "executable = /bin/sh\n"
        "arguments = \"-c 'hostname -f; echo ran-ok'\"\n"
        "output = job.out\nerror = job.err\nlog = job.log\n"
        "should_transfer_files = YES\nwhen_to_transfer_output = ON_EXIT\n"
        "request_cpus = 1\nrequest_memory = 64\nqueue\n"
    )
    run("submit", f"cat > {job_dir}/job.sub", user=user, stdin=submit_file)
    run("submit", f"cd {job_dir} && condor_submit job.sub", user=user)

    log = _wait_condor_job("submit", user, job_dir)
    assert "return value 0" in log, log
    out = run("submit", f"cat {job_dir}/job.out", user=user).stdout.split()
    assert out == [f"execute.{DOMAIN}", "ran-ok"]


def test_sbatch_job_runs_on_a_virtual_slurm_node(user: str) -> None:
    job_dir = _job_dir("slurm", user)
    proc = run(
        "slurm",
        f"cd {job_dir} && sbatch --wait --time=5 -o out.%j "
        "--wrap 'echo node=$SLURMD_NODENAME; hostname -s'",
        user=user,
        timeout=JOB_TIMEOUT,
    )
    match = re.search(r"Submitted batch job (\d+)", proc.stdout)
    assert match, proc.stdout
    out = run("slurm", f"cat {job_dir}/out.{match.group(1)}", user=user).stdout.split()
    assert re.fullmatch(r"node=n\d+", out[0]), out
    assert out[1] == "slurm"


def test_remote_submission_to_ce_like_schedd_runs(user: str) -> None:
    # The user authenticates to the CE with an IDTOKEN of its own (as a factory would).
    token = run(
        "cm", f"condor_token_create -identity {user}@{TRUST_DOMAIN} -key POOL -lifetime 3600"
    ).stdout.strip()
    assert token.count(".") == 2
    run(
        "submit",
        "umask 077 && mkdir -p ~/.condor/tokens.d && cat > ~/.condor/tokens.d/ce",
        user=user,
        stdin=token + "\n",
    )
    job_dir = _job_dir("submit", user)
    submit_file = (
        "universe = grid\n"
        "grid_resource = condor ce ce\n"
        "executable = /bin/sh\n"
        "arguments = \"-c 'hostname -f; echo via-ce'\"\n"
        "output = job.out\nerror = job.err\nlog = job.log\n"
        "should_transfer_files = YES\nwhen_to_transfer_output = ON_EXIT\nqueue\n"
    )
    run("submit", f"cat > {job_dir}/job.sub", user=user, stdin=submit_file)
    run("submit", f"cd {job_dir} && condor_submit job.sub", user=user)

    log = _wait_condor_job("submit", user, job_dir)
    assert "return value 0" in log, log
    out = run("submit", f"cat {job_dir}/job.out", user=user).stdout.split()
    assert out == [f"ce.{DOMAIN}", "via-ce"]


@pytest.mark.parametrize(
    ("client", "target"),
    [
        ("execute", "-type collector -pool cm ADVERTISE_STARTD"),
        ("submit", "-type collector -pool cm ADVERTISE_SCHEDD"),
        ("cm", f"-type schedd -name submit.{DOMAIN} -pool cm NEGOTIATOR"),
        ("submit", f"-type schedd -name ce.{DOMAIN} -pool ce WRITE"),
    ],
)
def test_hosts_authenticate_each_other_with_idtokens(client: str, target: str) -> None:
    out = run(client, f"condor_ping -verbose {target}").stdout
    assert "Authenticated using:         IDTOKENS" in out, out
    assert f"Remote Mapping:              condor@{TRUST_DOMAIN}" in out, out
    assert "Authorized:                  TRUE" in out, out


def test_claimtobe_and_anonymous_writes_are_refused() -> None:
    for method in ("CLAIMTOBE", "ANONYMOUS"):
        proc = run(
            "submit",
            f"_condor_SEC_CLIENT_AUTHENTICATION_METHODS={method} "
            "condor_ping -verbose -type collector -pool cm ADVERTISE_SCHEDD",
            check=False,
        )
        assert "Authorized:                  TRUE" not in proc.stdout, proc.stdout
        assert proc.returncode != 0
    for host in ("cm", "submit", "execute", "ce"):
        methods = run(host, "condor_config_val SEC_DEFAULT_AUTHENTICATION_METHODS").stdout
        assert "CLAIMTOBE" not in methods.upper()
        assert "IDTOKENS" in methods.upper()
        allow_write = run(host, "condor_config_val ALLOW_WRITE").stdout.strip()
        assert allow_write not in ("*", "*/*", "*@*"), f"{host}: ALLOW_WRITE = {allow_write}"


def test_signing_key_only_where_tokens_are_verified() -> None:
    for host in ("cm", "submit", "ce"):
        run(host, "test -s /etc/condor/passwords.d/POOL")
    assert run("execute", "test -e /etc/condor/passwords.d/POOL", check=False).returncode == 1
    for host in ("cm", "submit", "execute", "ce"):
        mode = run(host, "stat -c %a /etc/condor/tokens.d/gwms-pool").stdout.strip()
        assert mode == "600", f"{host}: token mode {mode}"
