"""This project's real pilot (glidein_startup.sh) flushing its JSON log to the real log
server over HTTPS with a token minted for its entry and glidein.

The pilot runs with --validate-only (no HTCondor needed) against a staging area built by
gwms_core.staging and served by ``python -m http.server``; one group script fails
validation. Skips when bash, curl or the glidein sources are absent.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from logserver_helpers import VIEWER, Running, pilot_available, run_real_pilot

from gwms_core.logserver.tokens import KeyRing

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{VIEWER[0]}:{VIEWER[1]}".encode())
        .decode()}

pytestmark = pytest.mark.skipif(pilot_available() is not None,
                                reason=pilot_available() or "")


def test_real_pilot_log_is_stored_indexed_and_shown(logserver: Running, keyring: KeyRing,
                                                    staged: tuple[str, Any],
                                                    tmp_path: Path) -> None:
    entry, glidein = "ce-test", "1234.0"
    run, work_parent = run_real_pilot(logserver, keyring, staged, tmp_path, entry, glidein)
    assert run.returncode == 1, run.stderr
    assert "log flush" not in run.stderr, run.stderr  # both flushes were accepted

    status, _, body = logserver.request("GET", f"/api/v1/glideins/{entry}/{glidein}", None,
                                        AUTH)
    assert status == 200, body
    g = json.loads(body)
    assert (g["status"], g["exit_status"], g["failing_script"]) == \
        ("failed", 1, "vo/check_scratch.sh")
    assert g["node"] == os.uname().nodename
    # the pilot's identity record ("attrs") fills the metadata columns
    assert (g["factory"], g["frontend"], g["site"]) == ("fact-test", "vofe-test", "T2_TEST")
    # two flushes (before the black-hole sleep and at exit) appended in order, once each:
    # the stored records are the pilot's local log, record for record
    (local,) = work_parent.rglob("glidein.jsonl")
    stored = (logserver.data_dir / "logs" / entry / glidein / "glidein.jsonl").read_bytes()
    ours = [json.loads(line) for line in stored.splitlines()]
    theirs = [json.loads(line) for line in local.read_bytes().splitlines()]
    assert [(r["time"], r["script"], r["severity"]) for r in ours] == \
        [(r["time"], r["script"], r["severity"]) for r in theirs]
    assert ours[-1]["message"] == "glidein exiting with status 1"
    # the failing script's output is searchable; the password it printed was redacted
    status, _, body = logserver.request("GET", "/api/v1/search?q=zorblatt", None, AUTH)
    hits = json.loads(body)["hits"]
    assert [h["glidein"] for h in hits] == [glidein]
    assert b"hunter2hunter2" not in stored
    assert b"hunter2hunter2" not in (logserver.data_dir / "index.sqlite").read_bytes()
    status, _, page = logserver.request("GET", f"/glidein/{entry}/{glidein}", None, AUTH)
    html = page.decode()
    assert status == 200 and "zorblatt quota exceeded" in html
    assert "vo/check_scratch.sh (group) failed validation" in html
