"""CachedSource: refresh on schedule, keep the last good data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from gwms_core.entries import Entry
from gwms_core.entrygen.cached import CachedSource, NoEntriesYet
from gwms_core.entrygen.model import SourceError
from gwms_plugins.entry_sources.cric import CricSource


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _entries(*names: str) -> list[Entry]:
    return [Entry(n, "condor", "ce:9619", "S") for n in names]


class Scripted:
    """An entry source whose successive load() results are given in advance."""

    def __init__(self, *results: Sequence[Entry] | Exception) -> None:
        self.results = list(results)
        self.calls = 0

    def load(self, options: Mapping[str, Any], base_dir: Path) -> Sequence[Entry]:
        self.calls += 1
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


def test_refresh_interval_and_fallback() -> None:
    clock = Clock()
    src = Scripted(_entries("a", "b"), SourceError("cric: HTTP 503"), _entries("a", "b", "c"))
    cached = CachedSource(src, {}, Path("."), refresh_seconds=600, clock=clock)
    assert [e.name for e in cached.entries()] == ["a", "b"]
    clock.now += 599
    cached.entries()
    assert src.calls == 1  # not due yet
    clock.now += 1
    assert [e.name for e in cached.entries()] == ["a", "b"]  # load failed: last good
    assert src.calls == 2
    assert cached.status.stale and "HTTP 503" in (cached.last_error or "")
    clock.now += 600
    assert [e.name for e in cached.entries()] == ["a", "b", "c"]
    assert not cached.status.stale and cached.status.succeeded_at == clock.now


def test_big_drop_keeps_last_good() -> None:
    clock = Clock()
    src = Scripted(_entries(*"abcd"), _entries("a"), _entries("a", "b"))
    cached = CachedSource(src, {}, Path("."), refresh_seconds=60, max_drop_fraction=0.5,
                          clock=clock)
    assert len(cached.entries()) == 4
    clock.now += 60
    assert len(cached.entries()) == 4
    assert cached.last_error is not None and cached.last_error.startswith("refused: 3 of 4")
    clock.now += 60
    assert [e.name for e in cached.entries()] == ["a", "b"]  # 50% is allowed


def test_never_loaded() -> None:
    cached = CachedSource(Scripted(SourceError("down")), {}, Path("."), refresh_seconds=60,
                          clock=Clock())
    with pytest.raises(NoEntriesYet, match="down"):
        cached.entries()


def test_with_the_real_cric_handler(tmp_path: Path) -> None:
    doc = tmp_path / "c.json"
    doc.write_text('{"U": {"rebus-site": {"name": "S"}, "glideinentries": ['
                   '{"cr_name": "E1", "gridtype": "condor", "gatekeeper": "ce:9619",'
                   ' "queue_status": "Production"}]}}')
    clock = Clock()
    cached = CachedSource(CricSource(), {"path": "c.json"}, tmp_path, refresh_seconds=60,
                          clock=clock)
    assert [e.name for e in cached.entries()] == ["E1"]
    doc.write_text("{ not json")
    clock.now += 60
    assert [e.name for e in cached.entries()] == ["E1"]
    assert "malformed JSON" in (cached.last_error or "")
