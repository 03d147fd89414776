"""Prometheus exposition of the factory's metrics."""

from __future__ import annotations

import re

from gwms_core.factory.intake import Refusal
from gwms_core.factory.metrics import render
from gwms_core.factory.model import Counts, Request
from gwms_core.factory.service import CycleReport

SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+)$')


def report() -> CycleReport:
    r = CycleReport()
    r.counts = {"E1": Counts(idle=2, running=3), "E2": Counts()}
    r.client_counts = {("E1", "vo@x", "vo.main", "default"): Counts(idle=2, running=2, held=1),
                       ("E1", "other@y", "vo.main", "default"): Counts(running=1),
                       ("E1", "w@x", 'we"ird', "default"): Counts(unsubmitted=4)}
    r.accepted = [Request(entry="E1", client="vo.main", frontend="vo@x", idle=5,
                          max_glideins=9)]
    r.refused = [Refusal("bad.main", "bad@x", "E1", "not allowed")]
    r.submitted = {("E1", "vo.main"): 2}
    r.removed = {("E1", "excess waiting glidein (request lowered)"): 3}
    r.duration = 0.25
    return r


def parse(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ ", line), line
            continue
        m = SAMPLE.match(line)
        assert m, line
        out[line.rsplit(" ", 1)[0]] = float(m.group(4))
    return out


def test_render_per_entry_and_frontend() -> None:
    got = parse(render(report(), {("E1", "vo.main"): 7}, None, {"ok": 4, "error": 1}))
    assert got['gwms_factory_glideins{entry="E1",frontend="vo.main",state="running"}'] == 3
    assert got['gwms_factory_glideins{entry="E1",frontend="vo.main",state="held"}'] == 1
    assert got['gwms_factory_glideins{entry="E1",frontend="we\\"ird",state="unsubmitted"}'] == 4
    assert got['gwms_factory_requested_idle_glideins{entry="E1",frontend="vo.main"}'] == 5
    assert got['gwms_factory_requested_max_glideins{entry="E1",frontend="vo.main"}'] == 9
    assert got['gwms_factory_submitted_glideins_total{entry="E1",frontend="vo.main"}'] == 7
    assert got['gwms_factory_removed_glideins_total{entry="E1",'
               'reason="excess waiting glidein (request lowered)"}'] == 3
    assert got['gwms_factory_refused_requests{entry="E1",frontend="bad.main"}'] == 1
    assert got['gwms_factory_cycles_total{result="error"}'] == 1
    assert got['gwms_factory_entries{enabled="true"}'] == 2
    assert got["gwms_factory_last_cycle_duration_seconds"] == 0.25


def test_each_family_has_one_type_line() -> None:
    text = render(report())
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types))
    assert text.endswith("\n")


def test_families_are_declared_with_their_type_and_labels() -> None:
    """Every family the factory exposes is in the catalogue of gwms_core.metrics (which
    the dashboards are checked against), with the same type and label names."""
    from gwms_core.metrics import DECLARED

    text = render(report(), None, None, {"ok": 1})
    types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE"))
    for name, kind in types.items():
        assert name in DECLARED, name
        assert DECLARED[name].kind.value == kind, name
    for line in text.splitlines():
        if line.startswith("#") or "{" not in line:
            continue
        name, labels = line.split("{", 1)
        got = [kv.split("=", 1)[0] for kv in re.findall(r'([a-z]+)="', labels)]
        assert tuple(got) == DECLARED[name].labels, line
