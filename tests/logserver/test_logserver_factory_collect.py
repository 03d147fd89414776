"""The factory's upload of a glidein's collected stdout/stderr to the real log server
(HTTPS, a token minted for that glidein): stored as ``factory.jsonl`` next to the
pilot's own log, indexed (the stderr's words are searchable, the exit code of the
pilot's last words is read), and nothing sent when no file was collected."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from logserver_helpers import VIEWER, Running

from gwms_core.logserver.factory import (
    COLLECTED_NAME,
    GlideinLogIssuer,
    collected_log_name,
)
from gwms_core.logserver.tokens import KeyRing

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{VIEWER[0]}:{VIEWER[1]}".encode())
        .decode()}


@pytest.mark.parametrize(("sid", "job", "name"), [
    ("s20261124-ab12", "123.4", "s20261124-ab12.4"),
    ("s1", "7.0", "s1.0"),
    ("", "7.0", None),            # no batch id on the job
    ("s1", "7", None),            # not Cluster.Proc
    ("../x", "7.0", None),        # not a plain name
])
def test_collected_log_name(sid: str, job: str, name: str | None) -> None:
    assert collected_log_name(sid, job) == name


def test_collected_output_is_stored_indexed_and_searchable(logserver: Running,
                                                           keyring: KeyRing,
                                                           tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{logserver.server.port}"
    issuer = GlideinLogIssuer(url, keyring, tmp_path / "tokens", ca_file=logserver.cafile)
    out = tmp_path / "123.4.out"
    err = tmp_path / "123.4.err"
    out.write_text("pilot starting\nglidein ending at node n1 with code 3\n")
    err.write_text("fatal: scratch disk quuxfrobnitz is read-only\n")
    answer = issuer.upload_collected("CE_x", "sidA.4", "123.4",
                                     [out, err, tmp_path / "absent.err"])
    assert answer is not None and answer.ok, answer
    stored = logserver.data_dir / "logs" / "CE_x" / "sidA.4" / COLLECTED_NAME
    records = [json.loads(line) for line in stored.read_bytes().splitlines()]
    assert [r["file"]["name"] for r in records] == ["123.4.out", "123.4.err"]
    assert {r["attrs"]["job_id"] for r in records} == {"123.4"}
    status, _, body = logserver.request("GET", "/api/v1/search?q=quuxfrobnitz", None, AUTH)
    assert status == 200, body
    assert [(h["entry"], h["glidein"]) for h in json.loads(body)["hits"]] == [
        ("CE_x", "sidA.4")]
    status, _, body = logserver.request("GET", "/api/v1/glideins/CE_x/sidA.4", None, AUTH)
    assert status == 200, body
    facts = json.loads(body)
    assert facts["exit_status"] == 3 and facts["job_id"] == "123.4", facts


def test_nothing_collected_sends_nothing(logserver: Running, keyring: KeyRing,
                                         tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{logserver.server.port}"
    issuer = GlideinLogIssuer(url, keyring, tmp_path / "tokens", ca_file=logserver.cafile)
    assert issuer.upload_collected("CE_x", "sidB.0", "9.0", [tmp_path / "9.0.out"]) is None
    assert logserver.stored_files() == []


def test_factory_sends_the_output_of_glideins_that_left_its_queue(
        logserver: Running, keyring: KeyRing, tmp_path: Path) -> None:
    """The factory's cycle step: a glidein seen in one cycle and gone in the next has its
    collected stdout/stderr sent once; one still queued, or one without a batch id, not."""
    from gwms_core.factory.ads import glidein_log_dir
    from gwms_core.factory.model import Glidein, GlideinState
    from gwms_core.factory.service import Factory, FactoryConfig
    from gwms_core.logserver.tokens import write_keyring
    from gwms_core.manager import get_registry

    write_keyring(tmp_path / "logs.key", keyring)
    (tmp_path / "factory.yaml").write_text(
        "kind: factory\nname: fcollect\nwms_collector: cm.example:9618\n"
        f"work_dir: {tmp_path}\n"
        f"log_server: {{url: 'https://127.0.0.1:{logserver.server.port}', "
        f"key_file: {tmp_path / 'logs.key'}, ca_file: {logserver.cafile}}}\n"
        "entry_sources: [{type: static, path: entries.yaml}]\n")
    cfg = FactoryConfig.from_file(tmp_path / "factory.yaml", get_registry())
    f = Factory(cfg, schedd=None, collector=None, registry=get_registry())  # type: ignore[arg-type]

    def glidein(job_id: str, sid: str) -> Glidein:
        return Glidein(job_id=job_id, entry="SLURM_x", client="fe.main", frontend="fe@x",
                       state=GlideinState.RUNNING, submission=sid)

    out_dir = Path(glidein_log_dir(cfg.log_dir, "SLURM_x", "fe.main"))
    out_dir.mkdir(parents=True)
    for job in ("41.0", "41.1", "42.0"):
        (out_dir / f"{job}.err").write_text(f"node trouble zyxwvut {job}\n")
    done, running, untagged = glidein("41.0", "sidC"), glidein("41.1", "sidC"), \
        glidein("42.0", "")
    f._collect_ended([done, running, untagged])
    assert logserver.stored_files() == []          # nothing has left the queue yet
    f._collect_ended([running])
    f._collect_ended([running])                    # a later cycle finds nothing new
    stored = [p.relative_to(logserver.data_dir / "logs") for p in logserver.stored_files()
              if not p.name.startswith(".")]    # the server's own offset bookkeeping
    assert [str(p) for p in stored] == [f"SLURM_x/sidC.0/{COLLECTED_NAME}"]
    status, _, body = logserver.request("GET", "/api/v1/search?q=zyxwvut", None, AUTH)
    assert status == 200, body
    assert [h["glidein"] for h in json.loads(body)["hits"]] == ["sidC.0"]
