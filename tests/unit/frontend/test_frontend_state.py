"""The removal history's state file: round trip, mode, bad files, and a restart that
resumes the counters (so a removal level already reached is kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gwms_core.frontend import EntryHistory, GlideinCounts, RemovalConfig, RemovalLevel
from gwms_core.frontend.demand import choose_removal
from gwms_core.frontend.state import (
    dump_history,
    load_history,
    parse_history,
    save_history,
)

HISTORY = {"main": {"E1@g@f": EntryHistory(7, 0, 12), "E2@g@f": EntryHistory(0, 3, 0)},
           "cms": {}}


def test_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "frontend-state.json"
    save_history(path, HISTORY, 1700000000.5)
    assert (path.stat().st_mode & 0o777) == 0o600
    history, problem = load_history(path)
    assert problem is None
    assert history == HISTORY
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["saved"] == 1700000000.5
    assert doc["groups"]["main"]["E1@g@f"] == [7, 0, 12]
    # a rewrite replaces the file whole and leaves no temporary file behind
    save_history(path, {"main": {}}, 1700000010.0)
    assert load_history(path) == ({"main": {}}, None)
    assert [p.name for p in tmp_path.iterdir()] == ["frontend-state.json"]


def test_missing_file_is_a_first_start(tmp_path: Path) -> None:
    assert load_history(tmp_path / "none.json") == ({}, None)


@pytest.mark.parametrize(("content", "why"), [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b'{"version": 2, "groups": {}}', "not a version 1 frontend state"),
    (b'[1, 2]', "not a version 1 frontend state"),
    (b'{"version": 1, "groups": []}', "'groups' must be an object"),
    (b'{"version": 1, "groups": {"g": {"E": [1, 2]}}}', "three counters expected"),
    (b'{"version": 1, "groups": {"g": {"E": [1, -2, 0]}}}', "non-negative integer"),
    (b'{"version": 1, "groups": {"g": {"E": [1, true, 0]}}}', "non-negative integer"),
    (b'{"version": 1, "groups": {"g": 5}}', "must be an object"),
])
def test_bad_files_are_reported_and_reset(tmp_path: Path, content: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_history(content)
    path = tmp_path / "state.json"
    path.write_bytes(content)
    history, problem = load_history(path)
    assert history == {}
    assert problem is not None and why in problem and "removal history reset" in problem


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    history, problem = load_history(tmp_path)  # a directory
    assert history == {} and problem is not None and str(tmp_path) in problem


def test_a_restart_resumes_the_counters(tmp_path: Path) -> None:
    """WAIT is due after more than 5 cycles without idle jobs. Three cycles, a restart
    through the state file, three more: WAIT, as without the restart. Without the file the
    counter would start again from zero and the sixth cycle would still say NO."""
    config, empty = RemovalConfig(), GlideinCounts()
    path = tmp_path / "state.json"
    h = EntryHistory()
    for _ in range(3):
        level, _, h = choose_removal(config, h, 0, empty)
        save_history(path, {"main": {"E": h}}, 0.0)
    assert level is RemovalLevel.NO
    resumed = load_history(path)[0]["main"]["E"]
    fresh = EntryHistory()
    for _ in range(3):
        level, _, resumed = choose_removal(config, resumed, 0, empty)
        fresh_level, _, fresh = choose_removal(config, fresh, 0, empty)
    assert level is RemovalLevel.WAIT
    assert fresh_level is RemovalLevel.NO


def test_dump_is_deterministic() -> None:
    assert dump_history(HISTORY, 1.0) == dump_history(dict(reversed(HISTORY.items())), 1.0)
