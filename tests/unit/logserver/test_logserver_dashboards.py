"""Grafana dashboards under docs/dashboards/ query only metric names the code declares."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gwms_core.metrics import DECLARED, declared_series

DASHBOARDS = sorted((Path(__file__).resolve().parents[3] / "docs" / "dashboards")
                    .glob("*.json"))

_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
             "group_right", "bool", "offset", "inf", "nan"}
_LABEL_VALUES = re.compile(
    r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*(?:\{[^}]*\})?\s*,\s*\w+\s*\)")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (enough PromQL for our dashboards)."""
    names = set(_LABEL_VALUES.findall(expr))
    expr = _LABEL_VALUES.sub(" ", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)                  # Grafana variables
    expr = re.sub(r'"(?:\\.|[^"\\])*"', " ", expr)            # strings
    expr = re.sub(r"\{[^}]*\}", " ", expr)                   # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)                  # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ",
                  expr)
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", expr):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    out = []
    for panel in dashboard["panels"]:
        out.extend(t["expr"] for t in panel["targets"])
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            q = var["query"]
            out.append(q["query"] if isinstance(q, dict) else q)
    return out


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (state) (gwms_factory_glideins{entry=~"$entry", state="idle"})',
     {"gwms_factory_glideins"}),
    ("histogram_quantile(0.9, sum by (le) (rate(x_bucket[$__rate_interval])))", {"x_bucket"}),
    ("a / clamp_min(sum(b{g=\"x\"}), 1) * 60", {"a", "b"}),
    ("label_values(gwms_frontend_idle_jobs, group)", {"gwms_frontend_idle_jobs"}),
    ("increase(c_total[1h]) offset 1d and on (x) d", {"c_total", "d"}),
])
def test_extractor(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_extractor_catches_a_misspelt_name() -> None:
    bad = metric_names("sum(rate(gwms_factory_submited_glideins_total[5m]))")
    assert bad - declared_series() == {"gwms_factory_submited_glideins_total"}


def test_there_are_dashboards_for_factory_frontend_logserver() -> None:
    assert {p.stem for p in DASHBOARDS} >= {"gwms-factory", "gwms-frontend", "gwms-logserver"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_queries_only_declared_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    used: set[str] = set()
    for expr in _exprs(dashboard):
        used |= metric_names(expr)
    assert used, "a dashboard that queries nothing"
    assert used - declared_series() == set()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    """What Grafana needs to import the file: uid, title, unique panel ids, grid
    positions inside 24 columns, a refId per target, the datasource variable."""
    d = json.loads(path.read_text())
    assert d["uid"] == path.stem and d["title"] and isinstance(d["schemaVersion"], int)
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    names = {v["name"] for v in d["templating"]["list"]}
    assert "datasource" in names
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0
        assert p["datasource"]["uid"] == "${datasource}"
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs))
        for t in p["targets"]:
            for var in re.findall(r"\$\{?(\w+)\}?", t["expr"]):
                assert var.startswith("__") or var in names, f"undefined ${var}"


def test_every_declared_family_is_on_a_dashboard() -> None:
    used: set[str] = set()
    for path in DASHBOARDS:
        for expr in _exprs(json.loads(path.read_text())):
            used |= metric_names(expr)
    unused = [name for name, spec in DECLARED.items()
              if not set(spec.series_names()) & used]
    assert unused == []


def _exported_families(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def test_factory_exports_exactly_the_declared_factory_families() -> None:
    """Render the factory's real exposition (gwms_core.factory.metrics) and compare."""
    render = pytest.importorskip("gwms_core.factory.metrics").render
    service = pytest.importorskip("gwms_core.factory.service")
    exported = _exported_families(render(service.CycleReport(), cycles={"ok": 1}))
    declared = {n: s.kind.value for n, s in DECLARED.items() if n.startswith("gwms_factory_")}
    assert exported == declared


def test_factory_dashboard_queries_what_the_factory_exports() -> None:
    render = pytest.importorskip("gwms_core.factory.metrics").render
    service = pytest.importorskip("gwms_core.factory.service")
    exported = set(_exported_families(render(service.CycleReport(), cycles={"ok": 1})))
    path = next(p for p in DASHBOARDS if p.stem == "gwms-factory")
    used: set[str] = set()
    for expr in _exprs(json.loads(path.read_text())):
        used |= metric_names(expr)
    assert used <= exported
