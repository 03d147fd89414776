"""Two credentials for one entry, end to end on real daemons (the factory tests' personal
HTCondor: one collector as WMS collector and user pool, one schedd for user jobs and
glideins).

A real ``gwms frontend run`` (its own process, authenticated as ``vofrontend@gwms.test``)
with two ``idtokens`` credentials (``pilot`` weight 2, ``prod`` weight 1) sees idle
vanilla jobs and advertises two request ads for the factory's entry; the factory (with a
key) submits glideins for both, tagged ``GlideinCredentialIdentifier``, each credential's
glideins given that credential's token; the counts are per credential, a restarted
factory reads them back from the queue and submits nothing more; SIGTERM withdraws both
ads. ``gwms frontend status`` with one credential gives the baseline the two ads add up
to.

Skips, with the reason, when the personal HTCondor cannot run (see conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import factory_driver as fd
import personal_condor as pcmod
from personal_condor import wait_for
from test_factory_daemons import collector_ads, live, queue, spec

from gwms_core.factory import attrs as A

FRONTEND = "vofrontend"
ENTRY = "CREDS"
JOBS = 12


def _config(path: Path, pc: pcmod.PersonalCondor, creds: list[dict[str, Any]]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({
        "kind": "frontend", "name": "credfe", "wms_collector": pc.collector,
        "cycle_seconds": 2,
        "user_pools": [{"collector": pc.collector}],
        "groups": {"main": {
            "match_expr": f'glidein.GLIDEIN_Site == "T3_XX_{ENTRY}"',
            "job_constraint": "GwmsCredTest =?= true",
            "idle_glideins_per_entry": {"max": 100, "reserve": 0},
        }},
        "credentials": creds,
    }))
    return path


def _gwms(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from gwms_core.cli import main; "
            "sys.exit(main(sys.argv[1:]))", *args]


def _my_requests(pc: pcmod.PersonalCondor, factory: str) -> list[dict[str, Any]]:
    return [a for a in collector_ads(pc, "glideclient")
            if a.get("ReqName") == f"{ENTRY}@{factory}@{factory}"]


def _submit_user_jobs(pc: pcmod.PersonalCondor) -> int:
    import htcondor2

    schedd = htcondor2.Schedd(htcondor2.Collector(pc.collector).locate(
        htcondor2.DaemonType.Schedd))
    sub = htcondor2.Submit({"universe": "vanilla", "executable": "/bin/true",
                            "+GwmsCredTest": "true", "request_cpus": "1",
                            "request_memory": "100", "initialdir": "/var/tmp"})
    return int(schedd.submit(sub, count=JOBS).cluster())


def _remove_user_jobs(pc: pcmod.PersonalCondor) -> None:
    import htcondor2

    schedd = htcondor2.Schedd(htcondor2.Collector(pc.collector).locate(
        htcondor2.DaemonType.Schedd))
    schedd.act(htcondor2.JobAction.Remove, "GwmsCredTest =?= true")


def test_two_credentials_two_ads_glideins_per_credential(
        condor: pcmod.PersonalCondor, factory_name: str, tmp_path: Path) -> None:
    from gwms_core.credentials.sealing import generate_factory_key
    from gwms_plugins.auth import idtokens

    key = tmp_path / "factory.pem"
    key.write_bytes(generate_factory_key())
    key.chmod(0o600)
    signing = {}
    for name in ("pilot", "prod"):
        path = tmp_path / f"{name}.key"
        idtokens.write_signing_key_file(path, idtokens.generate_signing_key_file())
        signing[name] = path
    both = _config(tmp_path / "two.yaml", condor, [
        {"type": "idtokens", "id": "pilot", "weight": 2, "signing_key": str(signing["pilot"]),
         "trust_domain": "gwms.test"},
        {"type": "idtokens", "id": "prod", "weight": 1, "signing_key": str(signing["prod"]),
         "trust_domain": "gwms.test"}])
    one = _config(tmp_path / "one.yaml", condor, [
        {"type": "idtokens", "signing_key": str(signing["pilot"]),
         "trust_domain": "gwms.test"}])

    def factory() -> Any:
        f, entries = fd.make_factory(spec(condor, factory_name, tmp_path / "work",
                                          [{"name": ENTRY, "max_idle": 100,
                                            "per_frontend_max_idle": 100}]))
        return type(f)(replace(f.cfg, key_files=(key,)), f.schedd, f.collector,
                       f.registry), entries

    f, entries = factory()
    f.start()
    f.cycle(entries)  # the entry ad, with the public key, for the frontend
    env = pcmod.client_env(FRONTEND)
    fe: subprocess.Popen[str] | None = None
    _submit_user_jobs(condor)
    try:
        # Baseline: the same jobs and entry, one credential (a dry cycle).
        out = subprocess.run(_gwms("frontend", "status", str(one), "--json"), env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        (base,) = [r for r in json.loads(out.stdout)["rows"]
                   if r["entry"] == f"{ENTRY}@{factory_name}@{factory_name}"]
        assert base["matched_idle"] == JOBS
        assert base["req_idle"] >= 2, base  # enough to be split
        fe = subprocess.Popen(_gwms("frontend", "run", str(both), "--identity",
                                    f"{FRONTEND}@gwms.test", "--interval", "2"),
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        wait_for(lambda: len(_my_requests(condor, factory_name)) == 2, "two request ads")
        ads = {a[A.CREDENTIAL]: a for a in _my_requests(condor, factory_name)}
        assert sorted(ads) == ["pilot", "prod"]
        assert {a["Name"] for a in ads.values()} == {
            f"{ENTRY}@{factory_name}@{factory_name}@credfe.main@{c}" for c in ads}
        assert {a["AuthenticatedIdentity"] for a in ads.values()} == {f"{FRONTEND}@gwms.test"}
        assert {a["ClassAdLifetime"] for a in ads.values()} == {60}
        for attr, col in (("ReqIdleGlideins", "req_idle"), ("ReqMaxGlideins", "req_max")):
            assert ads["pilot"][attr] + ads["prod"][attr] == base[col], attr
        assert ads["pilot"]["ReqIdleGlideins"] >= ads["prod"]["ReqIdleGlideins"] >= 1

        report = f.cycle(entries)
        assert report.errors == [] and report.refused == []
        want = {c: int(ads[c]["ReqIdleGlideins"]) for c in ads}
        ident = f"{FRONTEND}@gwms.test"
        assert {k[3]: n for k, n in report.submitted_by_frontend.items()} == want
        jobs = live(queue(factory_name, condor))
        by_cred: dict[str, list[dict[str, Any]]] = {}
        for j in jobs:
            by_cred.setdefault(j[A.CREDENTIAL], []).append(j)
        assert {c: len(js) for c, js in by_cred.items()} == want
        # each credential's glideins carry that credential's pool token
        import htcondor2

        schedd = htcondor2.Schedd(htcondor2.Collector(condor.collector).locate(
            htcondor2.DaemonType.Schedd))
        files = {}
        for cred in want:
            full = schedd.query(constraint=f'GlideinFactory == "{factory_name}" && '
                                           f'{A.CREDENTIAL} == "{cred}"',
                                projection=["TransferInput"])
            (path,) = {str(j["TransferInput"]) for j in full}
            files[cred] = path
            token = Path(path).read_text()
            idtokens.verify(token, idtokens.load_signing_key(signing[cred]),
                            issuer="gwms.test", scopes=idtokens.STARTD_SCOPES,
                            now=time.time())
        assert files["pilot"] != files["prod"]
        # the factory's client ads, one per credential, count that credential's glideins
        def client_ads() -> dict[str, dict[str, Any]]:
            return {a[A.CREDENTIAL]: a for a in collector_ads(condor, "glidefactoryclient")
                    if a.get("EntryName") == ENTRY and a.get("FactoryName") == factory_name}

        wait_for(lambda: len(client_ads()) == 2, "two client ads")  # the collector is async
        assert {c: a["GlideinMonitorStatusIdle"]  # waiting: unsubmitted + idle at the site
                for c, a in client_ads().items()} == want
        assert f.cycle(entries).submitted == {}
        # a restarted factory reads the credential back from the queue
        f.close()
        f2, entries = factory()
        f2.start()
        again = f2.cycle(entries)
        assert again.submitted == {} and again.removed == {}
        assert {k[3]: c.waiting for k, c in again.client_counts.items()
                if k[0] == ENTRY and k[1] == ident} == want
        f2.close()
        # a clean stop withdraws both ads
        fe.send_signal(signal.SIGTERM)
        log, _ = fe.communicate(timeout=60)
        assert fe.returncode == 0, log
        assert "withdrew" in log
        assert _my_requests(condor, factory_name) == []
    finally:
        if fe is not None and fe.poll() is None:
            os.kill(fe.pid, signal.SIGKILL)
            fe.wait()
        _remove_user_jobs(condor)
        ids = [f"{j['ClusterId']}.{j['ProcId']}" for j in queue(factory_name, condor)]
        if ids:
            import htcondor2

            htcondor2.Schedd(htcondor2.Collector(condor.collector).locate(
                htcondor2.DaemonType.Schedd)).act(htcondor2.JobAction.Remove, ids)
