"""Prometheus metrics of the frontend, updated from each cycle's :class:`CycleResult`.

The families are the ``gwms_frontend_*`` ones declared in :mod:`gwms_core.metrics` (the
catalogue the Grafana dashboard is checked against). Gauges describe the last cycle and are
replaced as a whole every cycle (an entry that disappears stops being exported);
counters and the duration histogram accumulate over the process's life.
``gwms frontend run --metrics-port`` serves :meth:`FrontendMetrics.render` over HTTP with
:func:`gwms_core.metrics.start_http_server`.

Labels: ``group`` (frontend group), ``entry`` (the entry ad's ``Name``,
``entry@glidein@factory``), ``state`` (``total``, ``idle``, ``running``: registered,
usable idle and running-a-job glideins; a partitionable glidein running a job with room
left is both idle and running, so the states do not add up), ``reason`` (one of
:data:`gwms_core.frontend.service.ERROR_REASONS`), ``result`` (``ok``, ``error``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gwms_core import metrics as M
from gwms_core.frontend.model import RemovalLevel

if TYPE_CHECKING:
    from gwms_core.frontend.service import CycleResult

#: ``gwms_frontend_glideins`` state label -> request ad monitor attribute.
GLIDEIN_STATES = {
    "total": "GlideinMonitorGlideinsTotal",
    "idle": "GlideinMonitorGlideinsIdle",
    "running": "GlideinMonitorGlideinsRunning",
}


class FrontendMetrics:
    """The live metrics of one frontend process."""

    def __init__(self, registry: M.MetricsRegistry | None = None) -> None:
        self.registry = registry or M.MetricsRegistry()
        reg = self.registry
        self.entries = reg.gauge(M.FRONTEND_ENTRIES)
        self.idle_jobs = reg.gauge(M.FRONTEND_IDLE_JOBS)
        self.running_jobs = reg.gauge(M.FRONTEND_RUNNING_JOBS)
        self.unmatched = reg.gauge(M.FRONTEND_UNMATCHED_IDLE)
        self.matched = reg.gauge(M.FRONTEND_MATCHED_IDLE)
        self.req_idle = reg.gauge(M.FRONTEND_REQUESTED_IDLE)
        self.req_max = reg.gauge(M.FRONTEND_REQUESTED_MAX)
        self.removal = reg.gauge(M.FRONTEND_REMOVAL_LEVEL)
        self.glideins = reg.gauge(M.FRONTEND_GLIDEINS)
        self.duration = reg.histogram(M.FRONTEND_CYCLE_SECONDS)
        self.cycles = reg.counter(M.FRONTEND_CYCLES)
        self.errors = reg.counter(M.FRONTEND_ERRORS)

    def observe(self, result: CycleResult) -> None:
        """Update every family from one cycle."""
        self.cycles.inc(result="error" if result.kept_last_good else "ok")
        for reason, n in sorted(result.errors.items()):
            self.errors.inc(n, reason=reason)
        self.duration.observe(result.duration)
        if result.kept_last_good:
            return  # the gauges keep describing the last cycle that saw the pools
        self.entries.set(result.entries)
        for gauge in (self.idle_jobs, self.running_jobs, self.unmatched, self.matched,
                      self.req_idle, self.req_max, self.removal, self.glideins):
            gauge.clear()
        for group, jobs in sorted(result.groups.items()):
            self.idle_jobs.set(jobs.idle, group=group)
            self.running_jobs.set(jobs.running, group=group)
            self.unmatched.set(jobs.unmatched_idle, group=group)
        # One ad per (entry, credential): the requested numbers are summed over the
        # credentials of an entry; the other figures describe the entry and are equal.
        req_idle: dict[tuple[str, str], float] = {}
        req_max: dict[tuple[str, str], float] = {}
        for ad in result.ads:
            key = (str(ad.get("GroupName", "")), str(ad.get("ReqName", "")))
            req_idle[key] = req_idle.get(key, 0.0) + _num(ad.get("ReqIdleGlideins"))
            req_max[key] = req_max.get(key, 0.0) + _num(ad.get("ReqMaxGlideins"))
        for ad in result.ads:
            key = (str(ad.get("GroupName", "")), str(ad.get("ReqName", "")))
            labels = {"group": key[0], "entry": key[1]}
            self.matched.set(_num(ad.get("GlideinMonitorMatchedIdle")), **labels)
            self.req_idle.set(req_idle[key], **labels)
            self.req_max.set(req_max[key], **labels)
            level = RemovalLevel.__members__.get(str(ad.get("ReqRemoveExcess", "NO")),
                                                 RemovalLevel.NO)
            self.removal.set(int(level), **labels)
            for state, attr in GLIDEIN_STATES.items():
                self.glideins.set(_num(ad.get(attr)), state=state, **labels)

    def render(self) -> str:
        """The Prometheus text exposition of every family."""
        return self.registry.render()


def _num(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


__all__ = ["GLIDEIN_STATES", "FrontendMetrics"]
