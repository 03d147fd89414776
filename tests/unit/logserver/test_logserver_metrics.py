"""gwms_core.metrics: declarations, exposition text, and the HTTP endpoint (real socket)."""

from __future__ import annotations

import math
import urllib.request

import pytest

from gwms_core import metrics as m


def test_counter_gauge_render() -> None:
    reg = m.MetricsRegistry()
    c = reg.counter(m.FACTORY_SUBMITTED)  # what gwms_core.factory renders itself
    c.inc(entry="ce1", frontend="fe")
    c.inc(2, entry="ce1", frontend="fe")
    g = reg.gauge(m.FACTORY_GLIDEINS)
    g.set(5, entry="ce1", frontend="fe", state="idle")
    g.inc(-2, entry="ce1", frontend="fe", state="idle")
    text = reg.render()
    assert "# TYPE gwms_factory_submitted_glideins_total counter" in text
    assert 'gwms_factory_submitted_glideins_total{entry="ce1",frontend="fe"} 3' in text
    assert 'gwms_factory_glideins{entry="ce1",frontend="fe",state="idle"} 3' in text
    assert text.endswith("\n")


def test_histogram_buckets_are_cumulative() -> None:
    reg = m.MetricsRegistry()
    h = reg.histogram(m.FRONTEND_CYCLE_SECONDS)
    for v in (0.003, 0.3, 0.5, 400.0):
        h.observe(v)
    lines = reg.render().splitlines()
    assert 'gwms_frontend_cycle_duration_seconds_bucket{le="0.005"} 1' in lines
    assert 'gwms_frontend_cycle_duration_seconds_bucket{le="0.5"} 3' in lines
    assert 'gwms_frontend_cycle_duration_seconds_bucket{le="300"} 3' in lines
    assert 'gwms_frontend_cycle_duration_seconds_bucket{le="+Inf"} 4' in lines
    assert "gwms_frontend_cycle_duration_seconds_count 4" in lines
    total = next(ln for ln in lines if ln.startswith("gwms_frontend_cycle_duration_seconds_sum"))
    assert math.isclose(float(total.split()[1]), 400.803)


def test_label_values_are_escaped() -> None:
    reg = m.MetricsRegistry()
    reg.counter(m.LOGSERVER_REFUSALS).inc(reason='a"b\\c\nd')
    assert 'reason="a\\"b\\\\c\\nd"' in reg.render()


def test_wrong_labels_refused() -> None:
    c = m.MetricsRegistry().counter(m.FACTORY_CYCLES)
    with pytest.raises(ValueError, match="takes labels"):
        c.inc(outcome="ok")
    with pytest.raises(ValueError, match="only goes up"):
        c.inc(-1, result="ok")


def test_undeclared_or_mistyped_spec_refused() -> None:
    reg = m.MetricsRegistry()
    rogue = m.MetricSpec("gwms_rogue_total", m.Kind.COUNTER, "not declared")
    with pytest.raises(ValueError, match="not declared"):
        reg.counter(rogue)
    with pytest.raises(ValueError, match="declared as a gauge"):
        reg.counter(m.FACTORY_GLIDEINS)


def test_declare_rules() -> None:
    with pytest.raises(ValueError, match="must end in _total"):
        m.declare("gwms_x_count", m.Kind.COUNTER, "x")
    with pytest.raises(ValueError, match="invalid label"):
        m.declare("gwms_x", m.Kind.GAUGE, "x", ("le",))
    with pytest.raises(ValueError, match="declared differently"):
        m.declare("gwms_factory_entries", m.Kind.GAUGE, "other help")
    assert m.declare("gwms_factory_entries", m.Kind.GAUGE, m.FACTORY_ENTRIES.help,
                     ("enabled",)) == m.FACTORY_ENTRIES


def test_histogram_series_names() -> None:
    assert m.FRONTEND_CYCLE_SECONDS.series_names() == (
        "gwms_frontend_cycle_duration_seconds_bucket",
        "gwms_frontend_cycle_duration_seconds_sum",
        "gwms_frontend_cycle_duration_seconds_count")


def test_http_server_serves_metrics() -> None:
    reg = m.MetricsRegistry()
    reg.gauge(m.FRONTEND_IDLE_JOBS).set(42, group="main")
    server, thread = m.start_http_server(reg, "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert 'gwms_frontend_idle_jobs{group="main"} 42' in r.read().decode()
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=10)
        assert info.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_http_server_serves_a_render_function() -> None:
    server, thread = m.start_http_server(lambda: "gwms_factory_entries 3\n", "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert r.read() == b"gwms_factory_entries 3\n"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
