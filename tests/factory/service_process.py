"""A `gwms factory run` process against a personal HTCondor, for the recovery tests.

The schedd-restart and collector-move tests run the real service as a subprocess, send
it requests as ``vofrontend`` and count its glideins in the queue. What they share is
here; what each does to the daemons stays in its own module.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import personal_condor as pcmod

ADVERTISE = textwrap.dedent("""
    import json, sys, classad2, htcondor2
    coll = htcondor2.Collector(sys.argv[1])
    coll.advertise([classad2.ClassAd(a) for a in json.loads(sys.argv[2])], "UPDATE_AD_GENERIC")
""")


def request(collector: str, factory: str, entry: str, idle: int) -> None:
    """Advertise the frontend's request for ``idle`` glideins (as ``vofrontend``)."""
    ad = {"MyType": "glideclient", "Name": f"{entry}@{factory}@{factory}@vofe.main",
          "ReqName": f"{entry}@{factory}@{factory}", "ClientName": "vofe.main",
          "ReqIdleGlideins": idle, "ReqMaxGlideins": idle, "ReqRemoveExcess": "NO"}
    subprocess.run([sys.executable, "-c", ADVERTISE, collector, json.dumps([ad])],
                   env=pcmod.client_env("vofrontend"), check=True, timeout=60)


def glideins(collector: str, factory: str) -> int | None:
    """The factory's glideins in the queue (schedd located afresh); None if unreachable."""
    import htcondor2

    from gwms_core.factory.schedd import glidein_constraint

    try:
        ad = htcondor2.Collector(collector).locate(htcondor2.DaemonType.Schedd)
        if ad is None:
            return None
        return len(htcondor2.Schedd(ad).query(constraint=glidein_constraint(factory, factory),
                                              projection=["ClusterId"]))
    except htcondor2.HTCondorException:
        return None


def write_config(tmp_path: Path, *, factory: str, entry: str, site: str, collector: str,
                 schedd: str, cycle_seconds: int) -> Path:
    """Staging area, one `batch slurm` entry and the factory config; the config's path."""
    from gwms_core.staging import build_staging

    build_staging({"glidein_startup.sh": b"#!/bin/sh\n"}, tmp_path / "stage")
    (tmp_path / "entries.yaml").write_text(
        f"kind: entries\nentries:\n  {entry}:\n    grid_type: batch\n    batch_system: slurm\n"
        f"    gatekeeper: local\n    site: {site}\n    allowed_frontends: [vofrontend]\n"
        "    limits: {max_idle: 20}\n")
    work = tmp_path / "work"
    work.mkdir(mode=0o755)
    config = tmp_path / "factory.yaml"
    config.write_text(
        f"kind: factory\nname: {factory}\nwms_collector: {collector}\n"
        f"schedd: {schedd}\nwork_dir: {work}\ncycle_seconds: {cycle_seconds}\n"
        f"staging: {{dir: {tmp_path / 'stage'}, url: 'http://web.gwms.test/stage'}}\n"
        "entry_sources:\n  - type: static\n    path: entries.yaml\n")
    return config


def stop(svc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the service; kill it if it has not ended a minute later."""
    svc.send_signal(signal.SIGTERM)
    try:
        svc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        svc.kill()
        svc.wait()
