"""Prometheus metrics of the factory, per entry and frontend (text exposition format 0.0.4).

:func:`render` turns a :class:`~gwms_core.factory.service.CycleReport` and the state
counters into the plain-text exposition; serving it over HTTP is the job of whatever
exposes the service's metrics. Metric names are the ``gwms_factory_*`` families
declared in :mod:`gwms_core.metrics`; the per-state glidein gauge uses the label values
``unsubmitted``, ``idle``, ``running``, ``held``, ``removed``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gwms_core.factory.model import Request
    from gwms_core.factory.service import CycleReport

_STATES = ("unsubmitted", "idle", "running", "held", "removed")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _family(name: str, kind: str, help_text: str,
            samples: Iterable[tuple[Mapping[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = repr(float(value)) if value != int(value) else str(int(value))
        lines.append(f"{name}{_labels(labels)} {text}")
    return lines


def _summed(requests: Iterable[Request],
            value: Callable[[Request], int]) -> list[tuple[tuple[str, str], int]]:
    """``value`` of the requests summed by (entry, client name): over frontend identities
    and credentials (one client sends one request per credential)."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for r in requests:
        out[(r.entry, r.client)] += value(r)
    return sorted(out.items())


def render(report: CycleReport,
           submitted_total: Mapping[tuple[str, str], int] | None = None,
           removed_total: Mapping[tuple[str, str], int] | None = None,
           cycles: Mapping[str, int] | None = None) -> str:
    """The factory's metrics after one cycle, as Prometheus text.

    :param report: the last cycle (gauges: glideins, requests, refusals, duration).
    :param submitted_total: glideins submitted since the process started, by
        (entry, client); default: this cycle's.
    :param removed_total: glideins removed since the process started, by (entry, reason).
    :param cycles: cycles since the process started, by result (``ok``, ``error``).
    """
    submitted_total = report.submitted if submitted_total is None else submitted_total
    removed_total = report.removed if removed_total is None else removed_total
    # Glideins and requests are labelled by the client name (``frontend.group``), summed
    # over identities and credentials.
    by_frontend: dict[tuple[str, str], dict[str, int]] = {}
    for (entry, _identity, client, _cred), c in sorted(report.client_counts.items()):
        acc = by_frontend.setdefault((entry, client), dict.fromkeys(_STATES, 0))
        d = c.as_dict()
        for s in _STATES:
            acc[s] += d[s]
    out: list[str] = []
    out += _family("gwms_factory_entries", "gauge", "Entries the factory serves.",
                   [({"enabled": "true"}, len(report.counts))])
    samples = []
    for (entry, client), d in sorted(by_frontend.items()):
        samples += [({"entry": entry, "frontend": client, "state": s}, d[s]) for s in _STATES]
    out += _family("gwms_factory_glideins", "gauge",
                   "Glideins in the factory's schedd by entry, frontend and state.", samples)
    out += _family("gwms_factory_requested_idle_glideins", "gauge",
                   "Idle glideins frontends request, by entry and frontend.",
                   [({"entry": e, "frontend": c}, n)
                    for (e, c), n in _summed(report.accepted, lambda r: r.idle)])
    out += _family("gwms_factory_requested_max_glideins", "gauge",
                   "Maximum glideins frontends allow, by entry and frontend.",
                   [({"entry": e, "frontend": c}, n)
                    for (e, c), n in _summed(report.accepted, lambda r: r.max_glideins)])
    out += _family("gwms_factory_submitted_glideins_total", "counter",
                   "Glideins submitted, by entry and frontend.",
                   [({"entry": e, "frontend": c}, n)
                    for (e, c), n in sorted(submitted_total.items())])
    removed: dict[tuple[str, str], int] = defaultdict(int)
    for (entry, reason), n in removed_total.items():
        removed[(entry, reason)] += n
    out += _family("gwms_factory_removed_glideins_total", "counter",
                   "Glideins removed by the factory, by entry and reason.",
                   [({"entry": e, "reason": r}, n) for (e, r), n in sorted(removed.items())])
    out += _family("gwms_factory_refused_requests", "gauge",
                   "Requests refused this cycle, by entry and frontend.",
                   [({"entry": r.entry, "frontend": r.client or "?"}, 1)
                    for r in report.refused])
    out += _family("gwms_factory_last_cycle_duration_seconds", "gauge",
                   "Duration of the last factory cycle.", [({}, report.duration)])
    if cycles:
        out += _family("gwms_factory_cycles_total", "counter", "Factory cycles, by result.",
                       [({"result": k}, v) for k, v in sorted(cycles.items())])
    return "\n".join(out) + "\n"
