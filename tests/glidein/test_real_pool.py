"""Real glideins against a real HTCondor 23.9 pool (Debian 13 root, see glidein_pool.py).

The pilot runs inside the root as an unprivileged user, downloads its staging area from
a real http.server on the host's 127.0.0.1, and starts condor_master + startd that must
authenticate to the pool's collector with the IDTOKEN it was given. Skips when the pool
cannot run (not root, root not built by tests/glidein/setup-condor-root.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import glidein_pool as gp
import pytest
from glidein_helpers import GLIDEIN

from gwms_core import staging

IDLE = 30

#: about 5 minutes in all (each test waits for real daemons)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool() -> Iterator[gp.Pool]:
    try:
        p = gp.start()
    except gp.Unavailable as exc:
        pytest.skip(f"real HTCondor pool unavailable: {exc}")
    try:
        yield p
    finally:
        p.stop()


@dataclass
class Glidein:
    proc: subprocess.Popen[str]
    parent: Path  # work directory parent, host path
    pool: gp.Pool

    def wait(self, timeout: float) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err

    def work(self) -> Path:
        (work,) = sorted(self.parent.glob("glidein.*"))
        return work

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in
                (self.work() / "log" / "glidein.jsonl").read_text().splitlines()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def glidein(pool: gp.Pool, serve: Any, tmp_path: Path) -> Iterator[Any]:
    """``glidein(name, params=..., scripts=..., extra=..., args=...) -> Glidein``."""
    started: list[Glidein] = []
    tag = f"{os.getpid()}-{tmp_path.name}"[-40:]
    base = pool.root / "var" / "tmp" / f"gwms-glidein-test-{tag}"
    base.mkdir(parents=True, exist_ok=True)
    token = base / "glidein.token"
    token.write_text(pool.token() + "\n")
    os.chown(token, gp.GLIDE_UID, gp.GLIDE_UID)
    token.chmod(0o600)

    def _start(name: str, params: Mapping[str, str | int] | None = None,
               scripts: tuple[staging.Script, ...] = staging.BUILTIN_SCRIPTS,
               extra: Mapping[str, Path | bytes] | None = None,
               args: tuple[str, ...] = ()) -> Glidein:
        stage_dir = base / f"stage-{name}"
        files = staging.glidein_files(
            GLIDEIN, scripts=scripts, extra=extra,
            params={"GLIDEIN_MIN_DISK_MB": 1, "GLIDEIN_CPUS": 1, "GLIDEIN_MEMORY": 512,
                    "GLIDEIN_Max_Idle": IDLE, **(params or {})})
        manifest = staging.build_staging(files, stage_dir)
        url = serve(stage_dir)
        parent = base / f"work-{name}"
        parent.mkdir()
        os.chown(parent, gp.GLIDE_UID, gp.GLIDE_UID)
        env = {"PATH": gp.PATH, "HOME": "/home/gwmsglide", "TMPDIR": pool.inside(parent)}
        cmd = ["chroot", f"--userspec={gp.GLIDE_UID}:{gp.GLIDE_UID}", str(pool.root),
               "env", "-i", *(f"{k}={v}" for k, v in env.items()),
               pool.inside(stage_dir / "glidein_startup.sh"),
               "--manifest-url", f"{url}/{staging.MANIFEST_NAME}",
               "--manifest-sha256", manifest.digest, "--collector", pool.collector,
               "--token-file", pool.inside(token), "--keep-work-dir", "--walltime", "3600",
               "--entry", f"entry-{name}", "--site", "TEST_SITE", *args]
        g = Glidein(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True), parent, pool)
        started.append(g)
        return g

    yield _start
    for g in started:
        g.stop()
    shutil.rmtree(base, ignore_errors=True)
    for jobdir in (pool.root / "home" / "gwmspool").glob(f"jobs-{os.getpid()}-*"):
        shutil.rmtree(jobdir, ignore_errors=True)


def processes_of(marker: bytes) -> list[str]:
    """Live (non-zombie) processes of the glidein user whose environment mentions marker."""
    out = []
    for pid in subprocess.run(["pgrep", "-u", str(gp.GLIDE_UID)], capture_output=True,
                              text=True).stdout.split():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if state != "Z" and marker in environ:
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return out


def startd_ad(pool: gp.Pool, entry: str, timeout: float = 90,
              attrs: tuple[str, ...] = ()) -> dict[str, str]:
    """Wait for the glidein's slot ad in the collector; return the requested attributes."""
    names = ("Name", "AuthenticatedIdentity", "AuthenticationMethod", *attrs)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        constraint = f'PartitionableSlot =?= true && GLIDEIN_Entry_Name == "{entry}"'
        out = pool.condor("condor_status", "-constraint", constraint, "-af", *names)
        lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
        if out.returncode == 0 and lines:
            return dict(zip(names, lines[0].split(), strict=False))
        time.sleep(1)
    raise AssertionError(f"no startd of {entry} in the collector within {timeout} s")


def submit(pool: gp.Pool, tmp: Path, entry: str, command: str, count: int = 1) -> str:
    """Submit ``count`` jobs running ``/bin/sh -c command`` that only match ``entry``."""
    jobdir = pool.root / "home" / "gwmspool" / f"jobs-{os.getpid()}-{entry}"
    jobdir.mkdir(parents=True, exist_ok=True)
    sub = jobdir / "job.sub"
    sub.write_text(
        "executable = /bin/sh\n"
        f"arguments = \"-c '{command}'\"\n"
        f"output = {pool.inside(jobdir)}/out.$(Process)\n"
        f"error = {pool.inside(jobdir)}/err.$(Process)\n"
        f"log = {pool.inside(jobdir)}/log\n"
        f'requirements = (GLIDEIN_Entry_Name =?= "{entry}")\n'
        "request_memory = 64\n"
        "should_transfer_files = YES\n"
        f"queue {count}\n")
    subprocess.run(["chown", "-R", f"{gp.POOL_UID}:{gp.POOL_UID}", str(jobdir)], check=True)
    out = pool.condor("condor_submit", "-terse", pool.inside(sub))
    assert out.returncode == 0, out.stderr
    return out.stdout.split(".")[0].strip()


def wait_history(pool: gp.Pool, cluster: str, count: int, timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = pool.condor("condor_history", cluster, "-af", "JobStatus", "ExitCode",
                          "LastRemoteHost")
        lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
        if len(lines) >= count:
            return lines
        time.sleep(2)
    q = pool.condor("condor_q", cluster, "-af", "JobStatus", "HoldReason").stdout
    raise AssertionError(f"cluster {cluster}: {count} job(s) did not finish; queue: {q}")


def test_glidein_joins_by_idtoken_runs_a_job_and_exits_when_idle(
        pool: gp.Pool, glidein: Any, tmp_path: Path) -> None:
    g = glidein("main", params={"GLIDEIN_Start": 'TARGET.RequestMemory <= 512'})
    ad = startd_ad(pool, "entry-main", attrs=("IS_GLIDEIN", "GLIDEIN_Site", "Cpus", "Memory",
                                              "PartitionableSlot", "GLIDEIN_ToDie"))
    assert ad["AuthenticatedIdentity"] == "glidein@gwms.test"
    assert ad["AuthenticationMethod"] == "IDTOKENS"
    assert ad["IS_GLIDEIN"] == "true"
    assert ad["GLIDEIN_Site"] == "TEST_SITE"
    assert (ad["Cpus"], ad["Memory"], ad["PartitionableSlot"]) == ("1", "512", "true")
    cluster = submit(pool, tmp_path, "entry-main", "echo job ran")
    history = wait_history(pool, cluster, 1)
    status, exit_code, host = history[0].split()
    assert (status, exit_code) == ("4", "0")
    assert host.startswith("slot1_1@glidein_")
    # no more work: the startd shuts down after GLIDEIN_Max_Idle, the master follows
    rc, err = g.wait(timeout=IDLE + 150)
    assert rc == 0, err
    msgs = [r["message"] for r in g.records()]
    assert "condor_master ended normally" in msgs
    # nothing of this glidein is left running (daemons, cron jobs, watchdog): every such
    # process has the work directory in its environment (GWMS_WORK_DIR, CONDOR_CONFIG)
    assert processes_of(pool.inside(g.work()).encode()) == []
    assert msgs[-1] == "glidein exiting with status 0"


def test_periodic_script_attributes_reach_the_collector(pool: gp.Pool, glidein: Any) -> None:
    probe = b"#!/bin/bash\nprintf 'VO_PROBE=%s\\n' \"$(id -un)\" >>\"$GWMS_ATTRS_FILE\"\n"
    glidein("cron", scripts=(staging.Script("vo/probe.sh", "group", 1, "periodic", 5),),
            extra={"vo/probe.sh": probe})
    deadline = time.monotonic() + 90
    ad: dict[str, str] = {}
    while time.monotonic() < deadline:
        ad = startd_ad(pool, "entry-cron", attrs=("VO_PROBE", "GWMS_CRON_GWMS1_FAILED",
                                                  "GWMS_CRON_FAILED"))
        if ad.get("VO_PROBE", "undefined") != "undefined":
            break
        time.sleep(2)
    assert ad["VO_PROBE"] == "gwmsglide"
    assert ad["GWMS_CRON_GWMS1_FAILED"] == "false"
    assert ad["GWMS_CRON_FAILED"] == "false"


def test_site_drain_file_stops_matching_and_ends_the_glidein(
        pool: gp.Pool, glidein: Any, tmp_path: Path) -> None:
    drain = pool.root / "var" / "tmp" / f"gwms-drain-{os.getpid()}"
    drain.write_text("maintenance\n")
    try:
        g = glidein("drain", params={"GLIDEIN_DRAIN_FILE": pool.inside(drain),
                                     "GLIDEIN_Max_Idle": 600})
        ad = startd_ad(pool, "entry-drain", attrs=("SiteWMS_WN_Draining",))
        assert ad["SiteWMS_WN_Draining"] == "true"
        cluster = submit(pool, tmp_path, "entry-drain", "true")
        # DAEMON_SHUTDOWN: draining with no job ends the startd long before Max_Idle
        rc, err = g.wait(timeout=180)
        assert rc == 0, err
        q = pool.condor("condor_q", cluster, "-af", "JobStatus").stdout.split()
        assert q == ["1"]  # still idle: never matched the draining glidein
        pool.condor("condor_rm", cluster)
    finally:
        drain.unlink(missing_ok=True)


def test_condor_tarball_is_used_when_staged(pool: gp.Pool, glidein: Any,
                                            tmp_path: Path) -> None:
    tarball = tmp_path / "condor.tar.gz"
    staging.condor_tarball(tarball, pool.root)
    g = glidein("tarball", extra={"condor.tar.gz": tarball})
    startd_ad(pool, "entry-tarball")
    work = g.work()
    config = (work / "condor" / "condor_config").read_text()
    release = f"{pool.inside(work)}/condor-release/usr"
    assert f"RELEASE_DIR = {release}\n" in config
    masters = subprocess.run(["pgrep", "-u", str(gp.GLIDE_UID), "-x", "condor_master"],
                             capture_output=True, text=True).stdout.split()
    exes = {os.readlink(f"/proc/{pid}/exe") for pid in masters}
    assert str(pool.root) + release + "/sbin/condor_master" in exes


def test_configure_only_config_parses_with_condor_config_val(
        pool: gp.Pool, glidein: Any) -> None:
    g = glidein("cfg", args=("--configure-only",),
                params={"GLIDEIN_Start": 'TARGET.Owner =!= "bad"', "WEIRD": "a $(X) b"})
    rc, err = g.wait(timeout=120)
    assert rc == 0, err
    config = pool.inside(g.work() / "condor" / "condor_config")
    out = subprocess.run(
        ["chroot", f"--userspec={gp.GLIDE_UID}:{gp.GLIDE_UID}", str(pool.root), "env", "-i",
         f"CONDOR_CONFIG={config}", f"PATH={gp.PATH}", "condor_config_val",
         "START", "NUM_CPUS", "MEMORY", "SEC_USE_FAMILY_SESSION", "STARTD_NOCLAIM_SHUTDOWN",
         "WEIRD", "USE_PID_NAMESPACES"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    start, cpus, memory, family, noclaim, weird, pidns = out.stdout.splitlines()
    assert start.startswith('(TARGET.Owner =!= "bad") && (time() < GLIDEIN_ToRetire)')
    assert (cpus, memory, family, noclaim) == ("1", "512", "False", str(IDLE))
    assert weird == '"a $(X) b"'
    assert pidns == "false"


def job_states(pool: gp.Pool, cluster: str) -> list[str]:
    """``JobStatus NumJobStarts`` of every job of ``cluster`` still in the queue."""
    out = pool.condor("condor_q", cluster, "-af", "JobStatus", "NumJobStarts").stdout
    return [ln.strip() for ln in out.splitlines() if ln.strip()]


def settled_states(pool: gp.Pool, cluster: str, timeout: float = 60) -> list[str]:
    """:func:`job_states` once no job of ``cluster`` is running: a shadow whose claim
    activation the startd refuses shows the job running (2) for a moment."""
    deadline = time.monotonic() + timeout
    states = job_states(pool, cluster)
    while time.monotonic() < deadline and any(s.startswith("2 ") for s in states):
        time.sleep(2)
        states = job_states(pool, cluster)
    return states


def test_black_hole_refuses_claim_reuse_and_daemon_shutdown_ends_it(
        pool: gp.Pool, glidein: Any, tmp_path: Path) -> None:
    """Three jobs of one cluster on a one-CPU glidein with a black-hole threshold of two
    jobs: the schedd runs the second job by reusing the first job's claim, then tries
    again for the third; the startd refuses that activation (START, fresh in the
    startd, is false) and closes the claim (CLAIM_WORKLIFE 0). The idle glidein then
    ends through STARTD.DAEMON_SHUTDOWN, long before its idle time (600 s), and its
    log says black hole. Before the fix the third job ran on the reused claim and
    the startd only left after STARTD_NOCLAIM_SHUTDOWN: DaemonStartTime, which the
    rate test used, is added only to the copy of the ad sent to the collector."""
    g = glidein("bh", params={"GLIDEIN_BLACKHOLE_RATE": "0.02",
                              "GLIDEIN_BLACKHOLE_NUMJOBS": 2, "GLIDEIN_Max_Idle": 600})
    startd_ad(pool, "entry-bh")
    cluster = submit(pool, tmp_path, "entry-bh", "true", count=3)
    assert [ln.split()[:2] for ln in wait_history(pool, cluster, 2)] == [["4", "0"]] * 2
    rc, err = g.wait(timeout=240)
    assert rc == 0, err
    assert settled_states(pool, cluster) == ["1 0"]  # the third never started
    pool.condor("condor_rm", cluster)
    msgs = [r["message"] for r in g.records()]
    assert "the startd ended (DAEMON_SHUTDOWN): stopping condor_master" in msgs
    black = [m for m in msgs if m.startswith("black hole: ")]
    assert len(black) == 1 and "2 jobs started in all" in black[0], msgs
    startlog = (g.work() / "condor" / "log" / "StartLog").read_text()
    assert "The DaemonShutdown expression" in startlog
    assert "evaluated to TRUE: starting graceful shutdown" in startlog


def test_black_hole_latch_outlives_the_rate_test(pool: gp.Pool, glidein: Any,
                                                 tmp_path: Path) -> None:
    """Two CPUs: a long job holds one while two short jobs trip the black hole (three
    starts within 50 s: rate 0.06/s). The rate test itself turns false again once
    50 s have passed; the latch keeps GLIDEIN_BLACKHOLE (and so START false): a job
    submitted after that is never matched, and when the long job is removed the
    glidein ends through DAEMON_SHUTDOWN instead of taking new work."""
    g = glidein("sticky", params={"GLIDEIN_BLACKHOLE_RATE": "0.06",
                                  "GLIDEIN_BLACKHOLE_NUMJOBS": 3, "GLIDEIN_CPUS": 2,
                                  "GLIDEIN_MEMORY": 1024, "GLIDEIN_Max_Idle": 600})
    startd_ad(pool, "entry-sticky")
    long_job = submit(pool, tmp_path, "entry-sticky", "sleep 600")
    short = submit(pool, tmp_path, "entry-sticky", "true", count=2)
    assert [ln.split()[:2] for ln in wait_history(pool, short, 2)] == [["4", "0"]] * 2
    names = ("GLIDEIN_BLACKHOLE", "GWMS_BLACKHOLE_NOW", "START")
    deadline = time.monotonic() + 150
    seen = []
    while time.monotonic() < deadline:
        ad = startd_ad(pool, "entry-sticky", attrs=names)
        seen.append(tuple(ad[n] for n in names))
        if seen[-1] == ("true", "false", "false"):
            break
        time.sleep(3)
    # tripped first (NOW true), then the rate test decayed while the latch held
    assert ("true", "true", "false") in seen, seen
    assert seen[-1] == ("true", "false", "false"), seen
    late = submit(pool, tmp_path, "entry-sticky", "true")
    assert [s.split()[0] for s in job_states(pool, long_job)] == ["2"]  # still running
    pool.condor("condor_rm", long_job)
    rc, err = g.wait(timeout=240)
    assert rc == 0, err
    assert settled_states(pool, late) == ["1 0"]  # never started
    pool.condor("condor_rm", late)
    msgs = [r["message"] for r in g.records()]
    assert "the startd ended (DAEMON_SHUTDOWN): stopping condor_master" in msgs
    assert any(m.startswith("black hole: ") for m in msgs), msgs


def test_site_preempt_file_evicts_the_running_job(pool: gp.Pool, glidein: Any,
                                                  tmp_path: Path) -> None:
    """Hard drain: the preempt file appears while a job runs; the periodic drain check
    (every 5 s here) sets SiteWMS_WN_Preempt, the job is preempted, the glidein ends."""
    preempt = pool.root / "var" / "tmp" / f"gwms-preempt-{os.getpid()}"
    preempt.unlink(missing_ok=True)
    scripts = (*[s for s in staging.BUILTIN_SCRIPTS if s.kind == "setup"],
               staging.Script("scripts/gwms_drain.sh", "factory", 60, "periodic", 5))
    try:
        g = glidein("hard", scripts=scripts,
                    params={"GLIDEIN_PREEMPT_FILE": pool.inside(preempt),
                            "GLIDEIN_Max_Idle": 600})
        startd_ad(pool, "entry-hard")
        cluster = submit(pool, tmp_path, "entry-hard", "sleep 600")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if pool.condor("condor_q", cluster, "-af", "JobStatus").stdout.split() == ["2"]:
                break
            time.sleep(1)
        else:
            raise AssertionError("the job never started")
        preempt.write_text("now\n")
        rc, err = g.wait(timeout=180)
        assert rc == 0, err
        status = pool.condor("condor_q", cluster, "-af", "JobStatus").stdout.split()
        assert status == ["1"]  # evicted back to idle, not completed
        pool.condor("condor_rm", cluster)
        assert "the startd ended (DAEMON_SHUTDOWN): stopping condor_master" in [
            r["message"] for r in g.records()]
    finally:
        preempt.unlink(missing_ok=True)
