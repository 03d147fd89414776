"""The factory against real HTCondor 23.9 daemons (collector + schedd), grid jobs to nowhere.

``batch slurm`` glideins with no Slurm stay unsubmitted (the gridmanager marks the
resource down); ``arc`` glideins with no credentials are held at once with
HoldReasonCode 0. That is enough to exercise submission, accounting, limits, removal,
the held policy and crash safety against the real schedd and collector.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gwms_core.factory import attrs as A
from gwms_core.factory import state as ST

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import factory_driver as fd  # noqa: E402
import personal_condor as pcmod  # noqa: E402
from personal_condor import wait_for  # noqa: E402

FRONTEND = "vofrontend"


def request_ad(entry: str, factory: str, idle: int, maxg: int, client: str = "vofe.main",
               remove: str = "NO") -> dict[str, Any]:
    return {"MyType": "glideclient", "Name": f"{entry}@{factory}@{factory}@{client}",
            "ReqName": f"{entry}@{factory}@{factory}", "ClientName": client,
            "ReqIdleGlideins": idle, "ReqMaxGlideins": maxg, "ReqRemoveExcess": remove}


def spec(pc: pcmod.PersonalCondor, name: str, tmp: Path, entries: list[dict[str, Any]],
         **kw: Any) -> dict[str, Any]:
    return {"collector": pc.collector, "name": name, "work_dir": str(tmp), "entries": entries,
            **kw}


def queue(name: str, pc: pcmod.PersonalCondor) -> list[dict[str, Any]]:
    import htcondor2

    from gwms_core.factory.schedd import glidein_constraint

    coll = htcondor2.Collector(pc.collector)
    schedd = htcondor2.Schedd(coll.locate(htcondor2.DaemonType.Schedd))
    return [dict(a) for a in schedd.query(constraint=glidein_constraint(name, name),
                                          projection=[*A.JOB_ATTRS, "GridResource", "Owner",
                                                      "Args"])]


def live(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [j for j in jobs if j["JobStatus"] not in (3, 4)]


def v2_split(raw: str) -> list[str]:
    """Split an HTCondor V2 (new syntax) argument string as the starter does."""
    out: list[str] = []
    cur: list[str] = []
    quoted = started = False
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "'":
            if quoted and raw[i + 1:i + 2] == "'":
                cur.append("'")
                i += 1
            else:
                quoted = not quoted
                started = True
        elif ch.isspace() and not quoted:
            if cur or started:
                out.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(ch)
        i += 1
    if cur or started:
        out.append("".join(cur))
    return out


def collector_ads(pc: pcmod.PersonalCondor, mytype: str) -> list[dict[str, Any]]:
    from gwms_core.factory.collector import WmsCollector

    return WmsCollector(pc.collector).query(mytype)


# --------------------------------------------------------------------------- tests


def test_request_makes_tagged_glideins_and_entry_ad(condor: pcmod.PersonalCondor,
                                                    factory_name: str, frontend: Any,
                                                    tmp_path: Path) -> None:
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [
        {"name": "SLURM", "max_idle": 50, "per_frontend_max_idle": 40}]))
    f.start()
    frontend(FRONTEND, [request_ad("SLURM", factory_name, 5, 10)])
    report = f.cycle(entries)
    assert report.errors == []
    assert report.submitted == {("SLURM", "vofe.main"): 5}
    jobs = queue(factory_name, condor)
    assert len(jobs) == 5
    for j in jobs:
        assert j[A.ENTRY] == "SLURM"
        assert j[A.CLIENT] == "vofe.main"
        assert j[A.FRONTEND] == f"{FRONTEND}@gwms.test"
        assert j[A.FACTORY] == factory_name
        assert j[A.SUBMISSION]
        assert j["GridResource"] == "batch slurm"
        assert j["Owner"] == pcmod.USER
    assert len({j["ClusterId"] for j in jobs}) == 1  # one transaction
    # second cycle: the queue already holds the request, nothing more is submitted
    assert f.cycle(entries).submitted == {}
    assert len(queue(factory_name, condor)) == 5
    ads = [a for a in collector_ads(condor, "glidefactory") if a["FactoryName"] == factory_name]
    assert len(ads) == 1
    ad = ads[0]
    assert ad["Name"] == f"SLURM@{factory_name}@{factory_name}"
    assert ad["GLIDEIN_GridType"] == "batch slurm"
    assert ad["GlideinConfigPerEntryMaxIdle"] == 50
    assert ad["GlideinMonitorTotalStatusIdle"] == 5
    clients = [a for a in collector_ads(condor, "glidefactoryclient")
               if a["FactoryName"] == factory_name]
    assert [(a["ReqClientName"], a["GwmsRequestAccepted"]) for a in clients] == [
        ("vofe.main", True)]


def test_refused_frontend_is_reported_and_others_served(condor: pcmod.PersonalCondor,
                                                       factory_name: str, frontend: Any,
                                                       tmp_path: Path) -> None:
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}]))
    f.start()
    frontend("intruder", [request_ad("E", factory_name, 7, 7, client="bad.main")])
    frontend(FRONTEND, [request_ad("E", factory_name, 3, 3)])
    report = f.cycle(entries)
    assert [(r.client, r.identity) for r in report.refused] == [
        ("bad.main", "intruder@gwms.test")]
    jobs = queue(factory_name, condor)
    assert {j[A.CLIENT] for j in jobs} == {"vofe.main"}
    assert len(jobs) == 3
    refused = [a for a in collector_ads(condor, "glidefactoryclient")
               if a["FactoryName"] == factory_name and not a["GwmsRequestAccepted"]]
    assert len(refused) == 1
    assert "not allowed" in refused[0]["GwmsRequestRefusedReason"]


def test_limits_hold_under_a_huge_request(condor: pcmod.PersonalCondor, factory_name: str,
                                          frontend: Any, tmp_path: Path) -> None:
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [
        {"name": "E", "max_glideins": 40, "max_idle": 30, "per_frontend_max_idle": 12}],
        max_submit_per_cycle=5))
    f.start()
    frontend(FRONTEND, [request_ad("E", factory_name, 100000, 100000)])
    for _ in range(5):
        f.cycle(entries)
        assert len(live(queue(factory_name, condor))) <= 12
    assert len(live(queue(factory_name, condor))) == 12


def test_lowered_request_removes_waiting_glideins(condor: pcmod.PersonalCondor,
                                                  factory_name: str, frontend: Any,
                                                  tmp_path: Path) -> None:
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}]))
    f.start()
    frontend(FRONTEND, [request_ad("E", factory_name, 10, 20)])
    f.cycle(entries)
    assert len(live(queue(factory_name, condor))) == 10
    # NO: lowering the request removes nothing
    frontend(FRONTEND, [request_ad("E", factory_name, 4, 20, remove="NO")])
    f.cycle(entries)
    assert len(live(queue(factory_name, condor))) == 10
    frontend(FRONTEND, [request_ad("E", factory_name, 4, 20, remove="WAIT")])
    report = f.cycle(entries)
    assert sum(report.removed.values()) == 6
    assert report.submitted == {}
    assert len(live(queue(factory_name, condor))) == 4


def test_glidein_output_goes_to_a_per_client_directory(condor: pcmod.PersonalCondor,
                                                       factory_name: str, frontend: Any,
                                                       tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}],
                                      log_dir=str(logs)))
    f.start()
    frontend(FRONTEND, [request_ad("E", factory_name, 2, 2, client="../../x")])
    assert f.cycle(entries).errors == []
    import htcondor2

    from gwms_core.factory.schedd import glidein_constraint

    coll = htcondor2.Collector(condor.collector)
    schedd = htcondor2.Schedd(coll.locate(htcondor2.DaemonType.Schedd))
    ads = schedd.query(constraint=glidein_constraint(factory_name, factory_name),
                       projection=["ClusterId", "ProcId", "Out", "Err"])
    assert len(ads) == 2
    where = logs / "E" / ".._.._x"
    assert where.is_dir()
    for ad in ads:
        job = f"{ad['ClusterId']}.{ad['ProcId']}"
        assert ad["Out"] == f"{where}/{job}.out"
        assert ad["Err"] == f"{where}/{job}.err"
    f.close()


def test_orphaned_client_glideins_removed_after_grace(condor: pcmod.PersonalCondor,
                                                     factory_name: str, frontend: Any,
                                                     tmp_path: Path) -> None:
    """A request ad that disappears: its waiting glideins go one grace period later (the
    factory's clock is injected; the collector, schedd and ads are real)."""
    grace = 100
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}],
                                      orphan_grace_s=grace))
    f.start()
    gone = request_ad("E", factory_name, 3, 5, client="gone.main")
    stays = request_ad("E", factory_name, 2, 5, client="stays.main")
    frontend(FRONTEND, [gone, stays])
    t0 = time.time()
    f.clock = lambda: t0
    f.cycle(entries)

    def by_client() -> dict[str, int]:
        out: dict[str, int] = {}
        for j in live(queue(factory_name, condor)):
            out[j[A.CLIENT]] = out.get(j[A.CLIENT], 0) + 1
        return out

    assert by_client() == {"gone.main": 3, "stays.main": 2}
    frontend(FRONTEND, [gone], "invalidate")
    wait_for(lambda: not [a for a in collector_ads(condor, "glideclient")
                          if a["Name"] == gone["Name"]], "the request ad withdrawn")
    frontend(FRONTEND, [stays])
    f.clock = lambda: t0 + grace - 1
    report = f.cycle(entries)
    assert report.orphaned == []
    assert report.removed == {}
    assert by_client() == {"gone.main": 3, "stays.main": 2}
    # The clock survives a restart through the state file.
    f.close()
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}],
                                      orphan_grace_s=grace))
    f.start()
    f.clock = lambda: t0 + grace
    report = f.cycle(entries)
    assert report.orphaned == [("E", f"{FRONTEND}@gwms.test", "gone.main", "default")]
    assert report.removed == {("E", "request gone for longer than the orphan grace period"): 3}
    assert report.submitted == {}
    assert by_client() == {"stays.main": 2}
    f.close()


def test_orphan_grace_restarts_when_the_state_file_is_lost(condor: pcmod.PersonalCondor,
                                                          factory_name: str, frontend: Any,
                                                          tmp_path: Path) -> None:
    grace = 100
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}],
                                      orphan_grace_s=grace))
    f.start()
    ad = request_ad("E", factory_name, 2, 5, client="lost.main")
    frontend(FRONTEND, [ad])
    t0 = time.time()
    f.clock = lambda: t0
    f.cycle(entries)
    frontend(FRONTEND, [ad], "invalidate")
    wait_for(lambda: not [a for a in collector_ads(condor, "glideclient")
                          if a["Name"] == ad["Name"]], "the request ad withdrawn")
    f.close()
    f.cfg.state_path.unlink()
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}],
                                      orphan_grace_s=grace))
    assert any("rebuilt" in n for n in f.start())
    for t, removed in [(t0 + 5 * grace, {}), (t0 + 6 * grace - 1, {})]:
        f.clock = lambda t=t: t
        assert f.cycle(entries).removed == removed
    f.clock = lambda: t0 + 6 * grace
    assert sum(f.cycle(entries).removed.values()) == 2
    assert live(queue(factory_name, condor)) == []
    f.close()


@pytest.mark.slow
def test_held_glideins_released_then_removed(condor: pcmod.PersonalCondor, factory_name: str,
                                             frontend: Any, tmp_path: Path) -> None:
    # arc without credentials: the gridmanager holds the job (HoldReasonCode 0).
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [
        {"name": "ARC", "grid_type": "arc", "gatekeeper": "127.0.0.1:1"}],
        backoff_s=0, max_releases=2))
    f.start()
    frontend(FRONTEND, [request_ad("ARC", factory_name, 1, 1)])
    f.cycle(entries)
    (job,) = queue(factory_name, condor)
    job_id = f"{job['ClusterId']}.{job['ProcId']}"

    def state() -> dict[str, Any] | None:
        return next((j for j in queue(factory_name, condor)
                     if f"{j['ClusterId']}.{j['ProcId']}" == job_id), None)

    seen_releases = []
    for _ in range(3):
        wait_for(lambda: (state() or {}).get("JobStatus") in (5, 3, None), "the hold")
        first = state()
        assert first is not None
        if first["JobStatus"] != 5:
            break
        assert first["HoldReasonCode"] == 0
        report = f.cycle(entries)
        seen_releases.append(int(first.get(A.RELEASES, 0)))
        if report.released == 0:
            assert sum(report.removed.values()) == 1
            break
    assert seen_releases == [0, 1, 2]
    after = state()
    assert after is None or after["JobStatus"] == 3


def test_state_file_corruption_is_survived(condor: pcmod.PersonalCondor, factory_name: str,
                                           frontend: Any, tmp_path: Path) -> None:
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}]))
    frontend(FRONTEND, [request_ad("E", factory_name, 4, 4)])
    f.start()
    f.cycle(entries)
    f.close()
    for garbage in (b"", b'{"version": 1, "pend', b"\x00\xff garbage", b"[]"):
        f.cfg.state_path.write_bytes(garbage)
        f2, _ = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}]))
        notes = f2.start(settle_s=0)
        assert any("rebuilt" in n for n in notes)
        assert f2.cycle(entries).submitted == {}
        assert len(live(queue(factory_name, condor))) == 4
        assert ST.load(f.cfg.state_path).rebuilt == ""
        f2.close()


@pytest.mark.slow
def test_kill9_while_submitting_and_removing(condor: pcmod.PersonalCondor, factory_name: str,
                                             frontend: Any, tmp_path: Path) -> None:
    """SIGKILL the factory at random moments while the request swings between 30 and 6
    idle glideins: the queue never holds more than the highest request, every job is
    tagged with a submission id, and a final clean cycle settles at the request."""
    rounds = int(os.environ.get("GWMS_FACTORY_KILL_ROUNDS", "25"))
    rng = random.Random(int(os.environ.get("GWMS_FACTORY_KILL_SEED", "5")))
    sp = spec(condor, factory_name, tmp_path, [{"name": "E"}], max_submit_per_cycle=3,
              cycle=1, pause=0.05)
    env = pcmod.client_env()
    high, low = 30, 6
    observed: list[int] = []
    for i in range(rounds):
        idle = high if i % 2 == 0 else low
        frontend(FRONTEND, [request_ad("E", factory_name, idle, high, remove="IDLE")])
        child = subprocess.Popen([sys.executable, str(HERE / "factory_driver.py"),
                                  json.dumps(sp)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.5))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        if rng.random() < 0.3:  # and sometimes the state file is damaged too
            path = tmp_path / "factory-state.json"
            if path.exists():
                data = path.read_bytes()
                path.write_bytes(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.5
                                 else b"\x00garbage")
        jobs = live(queue(factory_name, condor))
        assert len(jobs) <= high, f"round {i}: {len(jobs)} glideins above the request {high}"
        assert all(j.get(A.SUBMISSION) for j in jobs)
        observed.append(len(jobs))
    # the kills did land while glideins were being submitted and removed
    assert len(set(observed)) > 2, observed
    print("live glideins after each kill:", observed)
    frontend(FRONTEND, [request_ad("E", factory_name, low, high, remove="IDLE")])
    f, entries = fd.make_factory(sp)
    f.start()
    f.cycle(entries)
    f.cycle(entries)
    jobs = live(queue(factory_name, condor))
    assert len(jobs) == low
    assert f.state.pending == {}


def test_glidein_command_line_carries_the_manifest_hash(condor: pcmod.PersonalCondor,
                                                        factory_name: str, frontend: Any,
                                                        tmp_path: Path) -> None:
    from dataclasses import replace

    from gwms_core.staging import build_staging

    stage = tmp_path / "stage"
    manifest = build_staging({"glidein_startup.sh": b"#!/bin/sh\nexit 0\n"}, stage)
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}]))
    f.cfg = replace(f.cfg, staging_dir=stage, staging_url="http://web.gwms.test/stage/",
                    executable="")
    f.start()
    ad = request_ad("E", factory_name, 1, 1)
    ad["GlideinParamOdd"] = "it's \"x y\""
    frontend(FRONTEND, [ad])
    assert f.cycle(entries).errors == []
    (job,) = queue(factory_name, condor)
    import htcondor2

    coll = htcondor2.Collector(condor.collector)
    schedd = htcondor2.Schedd(coll.locate(htcondor2.DaemonType.Schedd))
    (full,) = schedd.query(constraint=f"ClusterId == {job['ClusterId']}",
                           projection=["Arguments", "Cmd"])
    args = full["Arguments"]
    assert f"--manifest-sha256 {manifest.digest}" in args
    assert "--manifest-url http://web.gwms.test/stage/manifest.sha256" in args
    assert "--entry E --frontend vofe --site T3_XX_E" in args
    assert "--group main" in args
    assert "Odd=it's \"x y\"" in v2_split(args)
    assert full["Cmd"] == str(stage / "glidein_startup.sh")


def test_cli_run_once_status_and_upgrade_check(condor: pcmod.PersonalCondor,
                                               factory_name: str, frontend: Any,
                                               tmp_path: Path) -> None:
    """``gwms factory run --once`` from YAML files (static entry source), then status and
    upgrade-check, as separate processes."""
    import htcondor2

    from gwms_core.staging import build_staging

    schedd_name = htcondor2.Collector(condor.collector).locate(
        htcondor2.DaemonType.Schedd)["Name"]
    build_staging({"glidein_startup.sh": b"#!/bin/sh\n"}, tmp_path / "stage")
    (tmp_path / "entries.yaml").write_text(
        "kind: entries\nentries:\n  SLURM_cli:\n    grid_type: batch\n    batch_system: slurm\n"
        "    gatekeeper: local\n    site: T2_XX_Cli\n    allowed_frontends: [vofrontend]\n"
        "    limits: {max_idle: 3}\n")
    work = tmp_path / "work"
    work.mkdir(mode=0o755)
    (tmp_path / "factory.yaml").write_text(
        f"kind: factory\nname: {factory_name}\nwms_collector: {condor.collector}\n"
        f"schedd: {schedd_name}\nwork_dir: {work}\n"
        f"staging: {{dir: {tmp_path / 'stage'}, url: 'http://web.gwms.test/stage'}}\n"
        "entry_sources:\n  - type: static\n    path: entries.yaml\n")
    frontend(FRONTEND, [request_ad("SLURM_cli", factory_name, 10, 10)])
    env = pcmod.client_env()
    gwms = [sys.executable, "-m", "gwms_core.cli", "factory"]
    cfg = ["--config", str(tmp_path / "factory.yaml")]
    run = subprocess.run([*gwms, "run", "--once", *cfg, "--metrics-file",
                          str(tmp_path / "m.prom")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["submitted"] == 3  # the entry's max_idle
    assert 'gwms_factory_glideins{entry="SLURM_cli",frontend="vofe.main",state="unsubmitted"} 3' \
        in (tmp_path / "m.prom").read_text()
    status = subprocess.run([*gwms, "status", "--json", *cfg], env=env, capture_output=True,
                            text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["entries"]["SLURM_cli"]["waiting"] == 3
    assert data["pending_submissions"] == 0
    # the service: metrics over HTTP while it cycles, SIGTERM ends it after the cycle
    import urllib.request

    port = pcmod.free_port()
    svc = subprocess.Popen([*gwms, "run", *cfg, "--metrics-port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def scraped() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=5) as resp:
                    return str(resp.read().decode())
            except OSError:
                return ""
        wait_for(lambda: 'entry="SLURM_cli",frontend="vofe.main",state="unsubmitted"} 3'
                 in scraped(), "metrics served over HTTP")
    finally:
        svc.send_signal(signal.SIGTERM)
        assert svc.wait(timeout=60) == 0
    check = subprocess.run([*gwms, "upgrade-check", "--json", *cfg], env=env,
                           capture_output=True, text=True, timeout=60)
    findings = json.loads(check.stdout)
    # run as root here, while the daemons' user owns the jobs: exactly that is reported
    assert check.returncode == 1
    assert [f["severity"] for f in findings] == ["error"]
    assert "owned by 'gwmsfact', not 'root'" in findings[0]["what"]


@pytest.mark.slow
def test_condor_grid_type_to_a_remote_schedd(condor: pcmod.PersonalCondor, factory_name: str,
                                             frontend: Any, tmp_path: Path) -> None:
    """``condor`` glideins (HTCondor-C) to a schedd (here the factory's own, reached through
    the collector): the jobs appear in the remote queue, the factory sees them idle at the
    site (``GridJobId`` set), and lowering the request removes them there too."""
    import htcondor2

    coll = htcondor2.Collector(condor.collector)
    schedd = htcondor2.Schedd(coll.locate(htcondor2.DaemonType.Schedd))
    name = coll.locate(htcondor2.DaemonType.Schedd)["Name"]
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [
        {"name": "CE", "grid_type": "condor", "gatekeeper": f"{name} {condor.collector}"}]))
    f.start()
    frontend(FRONTEND, [request_ad("CE", factory_name, 3, 3)])
    assert sum(f.cycle(entries).submitted.values()) == 3
    (grid,) = {j["GridResource"] for j in queue(factory_name, condor)}
    assert grid == f"condor {name} {condor.collector}"

    def remote() -> list[dict[str, Any]]:
        return [dict(a) for a in schedd.query(
            constraint=f'JobUniverse != 9 && GlideinFactory == "{factory_name}"',
            projection=["ClusterId", "ProcId", "JobStatus", A.SUBMISSION])]

    wait_for(lambda: len(remote()) == 3, "3 jobs in the remote schedd")
    wait_for(lambda: all(j.get("GridJobId") for j in queue(factory_name, condor)),
             "the factory's jobs to have a GridJobId")
    report = f.cycle(entries)
    assert report.counts["CE"].idle == 3 and report.counts["CE"].unsubmitted == 0
    assert report.submitted == {}
    frontend(FRONTEND, [request_ad("CE", factory_name, 1, 1, remove="WAIT")])
    assert sum(f.cycle(entries).removed.values()) == 2
    wait_for(lambda: len([j for j in remote() if j["JobStatus"] != 3]) == 1,
             "the remote copies of removed glideins to go")
    assert len(live(queue(factory_name, condor))) == 1


def test_sealed_credentials_decrypted_delivered_and_never_shown(
        condor: pcmod.PersonalCondor, factory_name: str, frontend: Any,
        tmp_path: Path) -> None:
    """A frontend seals its pool token to the key the factory publishes; the factory
    decrypts it, hands it to the glidein as a 0600 file, and the secret appears in no job
    ad, no collector ad and no log line. A value sealed to another key is refused."""
    from dataclasses import replace

    from gwms_core.credentials.leaks import find_leaks
    from gwms_core.credentials.sealing import (
        generate_factory_key,
        public_key_from_ad,
        public_key_pem,
        seal_params,
    )

    key = tmp_path / "factory.pem"
    key.write_bytes(generate_factory_key())
    key.chmod(0o600)
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}]))
    f = type(f)(replace(f.cfg, key_files=(key,)), f.schedd, f.collector, f.registry)
    f.start()
    f.cycle(entries)  # publishes the public key
    (entry_ad,) = [a for a in collector_ads(condor, "glidefactory")
                   if a["FactoryName"] == factory_name]
    public = public_key_from_ad(entry_ad)
    assert public == public_key_pem(key.read_bytes())
    secret = "eyJhbGciOiJIUzI1NiJ9.pool-token-payload.signature-part-0123456789"
    ad = request_ad("E", factory_name, 2, 2)
    sealed = seal_params({"PoolIdToken": secret.encode()}, public,
                         sender_identity=f"{FRONTEND}@gwms.test")
    ad.update({f"GlideinEncParam{k}": v for k, v in sealed.items()})
    other = request_ad("E", factory_name, 1, 1, client="vofe.other")
    wrong = seal_params({"PoolIdToken": b"x" * 40}, public_key_pem(generate_factory_key()),
                        sender_identity=f"{FRONTEND}@gwms.test")
    other.update({f"GlideinEncParam{k}": v for k, v in wrong.items()})
    frontend(FRONTEND, [ad, other])
    report = f.cycle(entries)
    assert report.errors == []
    assert [(r.client, r.reason.split(":")[0]) for r in report.refused] == [
        ("vofe.other", "credential refused")]
    jobs = queue(factory_name, condor)
    assert len(jobs) == 2
    import htcondor2

    schedd = htcondor2.Schedd(htcondor2.Collector(condor.collector).locate(
        htcondor2.DaemonType.Schedd))
    full = [dict(a) for a in schedd.query(constraint=f'GlideinFactory == "{factory_name}"')]
    (path,) = {j["TransferInput"] for j in full}
    assert Path(path).read_text() == secret
    assert Path(path).stat().st_mode & 0o777 == 0o600
    assert all("--token-file pool.idtoken" in j["Arguments"] for j in full)
    texts = {f"job {j['ClusterId']}.{j['ProcId']}": repr(j) for j in full}
    texts.update({f"ad {a['Name']}": repr(a) for t in ("glidefactory", "glidefactoryclient")
                  for a in collector_ads(condor, t)})
    texts["report"] = repr(report)
    assert find_leaks(texts, [secret]) == []


def test_unreadable_staging_manifest_submits_nothing(condor: pcmod.PersonalCondor,
                                                     factory_name: str, frontend: Any,
                                                     tmp_path: Path) -> None:
    from dataclasses import replace

    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "glidein_startup.sh").write_text("#!/bin/sh\n")  # no manifest.sha256
    f, entries = fd.make_factory(spec(condor, factory_name, tmp_path, [{"name": "E"}]))
    f.cfg = replace(f.cfg, staging_dir=stage, staging_url="http://web/stage", executable="")
    f.start()
    frontend(FRONTEND, [request_ad("E", factory_name, 2, 2)])
    report = f.cycle(entries)
    assert any("staging manifest unreadable" in e for e in report.errors)
    assert report.submitted == {}
    assert queue(factory_name, condor) == []
    # the entry is still advertised
    assert [a["EntryName"] for a in collector_ads(condor, "glidefactory")
            if a["FactoryName"] == factory_name] == ["E"]
