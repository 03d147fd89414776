"""Frontend metrics: the exported families are the declared ones, the dashboard queries
them, the values follow the cycle, and a real ``gwms frontend run`` serves them over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gwms_core.frontend import Entry, Glidein, GroupConfig, Job, MatchExpression, decide
from gwms_core.frontend.demand import group_jobs
from gwms_core.frontend.metrics import FrontendMetrics
from gwms_core.frontend.service import CycleResult, GroupJobs, request_ads
from gwms_core.frontend.settings import FrontendSettings, GroupSettings
from gwms_core.metrics import DECLARED, start_http_server

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "docs" / "dashboards" / "gwms-frontend.json"
NOW = 1_000_000


def _families(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _cycle() -> CycleResult:
    """A cycle made by the real decision: 6 one-core jobs at site A, 3 at A or B, 2 nowhere;
    entry A has one glidein running a job and one idle."""
    expr = MatchExpression.compile("stringListMember(glidein.GLIDEIN_Site, job.DESIRED_Sites)")
    group = GroupSettings("main", expr, "true", "true", GroupConfig())
    settings = FrontendSettings("fe", "wms:9618", 60, (), (group,))
    entries = [Entry("A@g@f", "A"), Entry("B@g@f", "B")]
    jobs = ([Job("s", 1, i, 1, NOW, {"DESIRED_Sites": "A", "RequestCpus": 1})
             for i in range(6)]
            + [Job("s", 2, i, 1, NOW, {"DESIRED_Sites": "A,B", "RequestCpus": 1})
               for i in range(3)]
            + [Job("s", 3, i, 1, NOW, {"DESIRED_Sites": "Z", "RequestCpus": 1})
               for i in range(2)])
    groups = group_jobs(jobs, expr.job_attrs, now=NOW)
    glideins = [Glidein("g1", "A@g@f", 1, 0, 2500, 0, running_jobs=1, partitionable=False),
                Glidein("g2", "A@g@f", 1, 1, 2500, 2500)]
    decision = decide(groups, entries, glideins, expr, group.config)
    ads = request_ads(settings, group, decision, {e.name: e for e in entries}, "cm:9618")
    return CycleResult(started=NOW, entries=2, jobs_idle=11, ads=ads,
                       errors={"schedd": 1}, groups={"main": GroupJobs(11, 0, 2)},
                       duration=0.25)


def test_exports_exactly_the_declared_frontend_families() -> None:
    text = FrontendMetrics().render()
    declared = {n: s.kind.value for n, s in DECLARED.items() if n.startswith("gwms_frontend_")}
    assert _families(text) == declared


def test_dashboard_queries_only_what_the_frontend_exports() -> None:
    exported = set()
    for name, spec in DECLARED.items():
        if name.startswith("gwms_frontend_"):
            exported |= set(spec.series_names())
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"]
             for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bgwms_[a-z_]+", e)}
    assert used and used <= exported
    families = {n for n in DECLARED if n.startswith("gwms_frontend_")}
    assert {n for n in families if not any(s in used for s in DECLARED[n].series_names())} \
        == set()


def test_values_follow_the_cycle() -> None:
    m = FrontendMetrics()
    m.observe(_cycle())
    s = _samples(m.render())
    a = 'group="main",entry="A@g@f"'
    b = 'group="main",entry="B@g@f"'
    assert s["gwms_frontend_entries"] == 2
    assert s['gwms_frontend_idle_jobs{group="main"}'] == 11
    assert s['gwms_frontend_unmatched_idle_jobs{group="main"}'] == 2
    # A: 6 + 3 matched; B: 3
    assert s[f"gwms_frontend_matched_idle_jobs{{{a}}}"] == 9
    assert s[f"gwms_frontend_matched_idle_jobs{{{b}}}"] == 3
    # A: 6 + 3/2 = 7.5 -> 8 glideins, 1 idle -> 7 effective, 7 // 3 = 2 idle requested;
    # max (7 + 1 running) * 1.15 + 1 = 10.2 -> 10
    assert s[f"gwms_frontend_requested_idle_glideins{{{a}}}"] == 2
    assert s[f"gwms_frontend_requested_max_glideins{{{a}}}"] == 10
    # B: 1.5 -> 2 glideins, 2 // 3 = 0 -> at least 1; max 2 * 1.15 + 1 = 3.3 -> 3
    assert s[f"gwms_frontend_requested_idle_glideins{{{b}}}"] == 1
    assert s[f"gwms_frontend_requested_max_glideins{{{b}}}"] == 3
    assert s['gwms_frontend_glideins{group="main",entry="A@g@f",state="running"}'] == 1
    assert s['gwms_frontend_glideins{group="main",entry="A@g@f",state="idle"}'] == 1
    assert s['gwms_frontend_glideins{group="main",entry="A@g@f",state="total"}'] == 2
    assert s[f"gwms_frontend_removal_level{{{a}}}"] == 0
    assert s['gwms_frontend_errors_total{reason="schedd"}'] == 1
    assert s['gwms_frontend_cycles_total{result="ok"}'] == 1
    assert s["gwms_frontend_cycle_duration_seconds_count"] == 1
    assert s["gwms_frontend_cycle_duration_seconds_sum"] == 0.25


def test_a_failed_cycle_counts_but_keeps_the_last_gauges() -> None:
    m = FrontendMetrics()
    m.observe(_cycle())
    failed = CycleResult(started=NOW + 60, errors={"wms_collector": 1}, kept_last_good=True)
    m.observe(failed)
    s = _samples(m.render())
    assert s['gwms_frontend_cycles_total{result="error"}'] == 1
    assert s['gwms_frontend_errors_total{reason="wms_collector"}'] == 1
    assert s["gwms_frontend_entries"] == 2  # from the last cycle that saw the pools


def test_scrape_over_http() -> None:
    m = FrontendMetrics()
    m.observe(_cycle())
    server, _ = start_http_server(m.registry, "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = r.read().decode()
    finally:
        server.shutdown()
    assert _samples(body)['gwms_frontend_matched_idle_jobs{group="main",entry="A@g@f"}'] == 9


def test_gwms_frontend_run_serves_metrics(tmp_path: Path) -> None:
    """A real ``gwms frontend run`` whose collector does not answer: its cycles fail, it
    carries on, and its endpoint counts the failed cycles and their reason."""
    pytest.importorskip("htcondor2")
    key = tmp_path / "POOL"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)
    config = tmp_path / "frontend.yaml"
    config.write_text(f"""kind: frontend
name: fe
wms_collector: 127.0.0.1:1
cycle_seconds: 1
user_pools:
  - collector: 127.0.0.1:1
groups:
  main:
    match_expr: "true"
credentials:
  - type: idtokens
    signing_key: {key}
    trust_domain: test
""")
    state = tmp_path / "state.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gwms_core.cli", "frontend", "run", str(config),
         "--metrics-port", "0", "--state-file", str(state)],
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        port = None
        for line in proc.stderr:
            found = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", line)
            if found:
                port = int(found.group(1))
                break
        assert port, "no metrics line"
        url = f"http://127.0.0.1:{port}/metrics"
        errors = 0.0
        for _ in range(120):  # until two cycles have failed (a poll, not a timed check)
            with urllib.request.urlopen(url, timeout=10) as r:
                s = _samples(r.read().decode())
            errors = s.get('gwms_frontend_cycles_total{result="error"}', 0)
            if errors >= 2:
                break
            time.sleep(0.5)
        assert errors >= 2
        assert s['gwms_frontend_errors_total{reason="wms_collector"}'] >= 2
        assert s["gwms_frontend_cycle_duration_seconds_count"] >= 2
        assert proc.poll() is None  # still running
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0  # SIGTERM ends it cleanly
    assert state.exists() and (state.stat().st_mode & 0o777) == 0o600
