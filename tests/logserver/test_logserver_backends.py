"""The index backends behave the same: SQLite/FTS5 (file) and PostgreSQL (a private
cluster of Debian's postgresql started by the fixture; skipped when absent)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from logserver_helpers import failing_log, good_log, jsonl

from gwms_core.logserver.extract import extract
from gwms_core.logserver.index import GlideinQuery, LogIndex, open_index
from gwms_core.logserver.records import parse_upload
from gwms_core.logserver.sanitize import Sanitizer

NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogIndex]:
    if request.param == "sqlite":
        url = f"sqlite:{tmp_path / 'index.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    ix = open_index(url)
    try:
        yield ix
    finally:
        ix.close()


def put(ix: LogIndex, entry: str, glidein: str, body: bytes, name: str = "glidein.jsonl",
        append: bool = False, now: float = NOW) -> str:
    recs = parse_upload(body, Sanitizer()).records
    return ix.put_file(extract(entry, glidein, recs), name, recs, len(body), append=append,
                       now=now).status


@pytest.fixture
def filled(index: LogIndex) -> LogIndex:
    assert put(index, "ce1", "g1", failing_log(word="quasarflux")) == "failed"
    assert put(index, "ce2", "g2", good_log()) == "succeeded"
    assert put(index, "ce2", "g3", good_log(t0=1_764_100_000.0), now=NOW + 10) == "succeeded"
    return index


def names(ix: LogIndex, **kw: object) -> list[str]:
    rows, total = ix.glideins(GlideinQuery(**kw))  # type: ignore[arg-type]
    assert total >= len(rows)
    return sorted(r.facts.glidein for r in rows)


def test_filters(filled: LogIndex) -> None:
    assert names(filled) == ["g1", "g2", "g3"]
    assert names(filled, status="failed") == ["g1"]
    assert names(filled, entry="ce2") == ["g2", "g3"]
    assert names(filled, frontend="fe-cms") == ["g1"]
    assert names(filled, since=1_764_050_000.0) == ["g3"]
    assert names(filled, until=1_764_000_050.0) == ["g1"]
    assert names(filled, text="quasarflux") == ["g1"]
    assert names(filled, text="quasarflux", entry="ce2") == []
    assert names(filled, text="quasar*") == ["g1"]
    assert names(filled, text="glidein ending") == ["g1", "g2", "g3"]
    assert names(filled, text='"NEAR( OR') == []
    rows, total = filled.glideins(GlideinQuery(limit=1))
    assert total == 3 and [r.facts.glidein for r in rows] == ["g3"]  # newest first


def test_glidein_files_lines_search(filled: LogIndex) -> None:
    row = filled.glidein("ce1", "g1")
    assert row is not None and row.facts.failing_script == "validate_node.sh"
    assert row.facts.node == "wn042.example.org" and row.facts.exit_status == 2
    assert [f.name for f in filled.files("ce1", "g1")] == ["glidein.jsonl"]
    lines = filled.lines("ce1", "g1")
    assert [ln.seq for ln in lines] == [0, 1, 2, 3, 4]
    assert [ln.attachment for ln in lines].count("validate_node.out") == 1
    assert len(filled.lines("ce1", "g1", script="validate_node.sh")) == 3
    hits = filled.search("quasarflux", GlideinQuery())
    assert [(h.glidein, h.script, h.attachment) for h in hits] == \
        [("g1", "validate_node.sh", "validate_node.out")]
    assert "quasarflux: need 10 GB" in hits[0].file_text
    assert filled.facets() == (["ce1", "ce2"], ["fe-atlas", "fe-cms"])
    assert filled.glidein("ce9", "nope") is None


def test_append_and_replace(index: LogIndex) -> None:
    a = jsonl([{"time": 1.0e9, "script": "s", "severity": "info", "message": "alpha one"}])
    b = jsonl([{"time": 1.0e9 + 1, "script": "s", "severity": "error",
                "message": "beta two"}])
    put(index, "ce1", "g1", a)
    put(index, "ce1", "g1", b, append=True)
    assert [ln.text for ln in index.lines("ce1", "g1")] == ["alpha one", "beta two"]
    assert [ln.seq for ln in index.lines("ce1", "g1")] == [0, 1]
    row = index.glidein("ce1", "g1")
    assert row is not None and row.facts.errors == 1
    put(index, "ce1", "g1", b)  # replace
    assert [ln.text for ln in index.lines("ce1", "g1")] == ["beta two"]
    assert index.search("alpha", GlideinQuery()) == []
    put(index, "ce1", "g1", a, name="other.jsonl")
    row = index.glidein("ce1", "g1")
    assert row is not None and row.facts.errors == 1 and row.nbytes == len(a) + len(b)


def test_delete_and_usage(filled: LogIndex) -> None:
    usage = {(u.entry, u.glidein): u for u in filled.usage()}
    assert usage[("ce2", "g3")].last_seen == NOW + 10
    assert filled.delete("ce1", "g1") is True
    assert filled.delete("ce1", "g1") is False
    assert filled.search("quasarflux", GlideinQuery()) == []
    assert filled.lines("ce1", "g1") == []
    assert names(filled) == ["g2", "g3"]


def test_big_attachment_is_indexed(index: LogIndex) -> None:
    import base64
    import gzip
    text = ("lorem ipsum " * 200_000 + "needleword\n").encode()
    body = jsonl([{"time": 1.0e9, "script": "s", "severity": "error",
                   "file": {"name": "big.out", "encoding": "gzip+base64",
                            "data": base64.b64encode(gzip.compress(text)).decode()}}])
    put(index, "ce1", "g1", body)
    # beyond the indexed part (1 MiB; PostgreSQL: 256 KiB of tsvector) words are not found,
    # the start is
    assert names(index, text="lorem") == ["g1"]
    assert names(index, text="needleword") == []


def test_server_on_postgresql(tmp_path: Path, pg_url: str, tls_files: tuple[Path, Path],
                              keyring: object) -> None:
    import base64 as b64

    from logserver_helpers import VIEWER, Running, bearer

    from gwms_core.logserver.retention import RetentionPolicy
    from gwms_core.logserver.server import LogServer, ServerConfig
    from gwms_core.logserver.users import parse_users, user_line
    cert, key = tls_files
    server = LogServer(ServerConfig(
        data_dir=tmp_path / "data", keyring=keyring, host="127.0.0.1", port=0,  # type: ignore[arg-type]
        users=parse_users(user_line(VIEWER[0], "viewer", VIEWER[1], iterations=1000)),
        certfile=cert, keyfile=key, retention=RetentionPolicy(None, None), index_url=pg_url))
    server.start()
    try:
        run = Running(server, cert, tmp_path / "data")
        assert run.request("PUT", "/logs/ce1/g1/glidein.jsonl", failing_log(),
                           bearer(keyring, "ce1", "g1"))[0] == 201  # type: ignore[arg-type]
        auth = {"Authorization": "Basic " + b64.b64encode(
            f"{VIEWER[0]}:{VIEWER[1]}".encode()).decode()}
        status, _, body = run.request("GET", "/api/v1/glideins?q=quasarflux", None, auth)
        assert status == 200 and json.loads(body)["glideins"][0]["failing_script"] == \
            "validate_node.sh"
        assert run.server.run_retention(now=NOW * 10) == 0
    finally:
        server.stop()
