"""Prometheus metrics: declared names, counters/gauges/histograms, text exposition, HTTP.

Every metric family any gwms service exports is *declared* once, in this module's
catalogue (:data:`DECLARED`, filled by :func:`declare`), with its type, help and
label names. Services create live metrics from these specs on a
:class:`MetricsRegistry` and expose :meth:`MetricsRegistry.render` (Prometheus text
format 0.0.4) over HTTP(S) with :func:`start_http_server`. The Grafana dashboards
under docs/dashboards/ are checked by a test to query only declared names.

Example (frontend)::

    reg = MetricsRegistry()
    glideins = reg.gauge(FRONTEND_GLIDEINS)
    glideins.set(12, group="main", entry="ce1", state="running")
    start_http_server(reg, "0.0.0.0", 9100)
"""

from __future__ import annotations

import bisect
import enum
import http.server
import math
import re
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0, 120.0, 300.0)


class Kind(enum.Enum):
    """Metric types."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class MetricSpec:
    """A declared metric family."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = DEFAULT_BUCKETS

    def series_names(self) -> tuple[str, ...]:
        """Names of the time series this family exposes (histograms have three)."""
        if self.kind is Kind.HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


#: Every declared family by name.
DECLARED: dict[str, MetricSpec] = {}


def declare(name: str, kind: Kind, help: str, labels: Sequence[str] = (),
            buckets: Sequence[float] = DEFAULT_BUCKETS) -> MetricSpec:
    """Declare a family in the catalogue; redeclaring differently is an error."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid metric name {name!r}")
    for label in labels:
        if not _LABEL_RE.match(label) or label.startswith("__") or label == "le":
            raise ValueError(f"invalid label name {label!r} for {name}")
    if kind is Kind.COUNTER and not name.endswith("_total"):
        raise ValueError(f"counter {name!r} must end in _total")
    spec = MetricSpec(name, kind, help, tuple(labels), tuple(sorted(buckets)))
    old = DECLARED.get(name)
    if old is not None and old != spec:
        raise ValueError(f"metric {name!r} already declared differently")
    DECLARED[name] = spec
    return spec


def declared_series() -> frozenset[str]:
    """Every time series name the declared families expose."""
    return frozenset(s for spec in DECLARED.values() for s in spec.series_names())


# --------------------------------------------------------------------------- catalogue

_C, _G, _H = Kind.COUNTER, Kind.GAUGE, Kind.HISTOGRAM

# Factory: the families gwms_core.factory.metrics.render exports (a test renders it and
# compares); label "frontend" carries the request's client name.
FACTORY_ENTRIES = declare("gwms_factory_entries", _G,
                          "Entries the factory serves.", ("enabled",))
FACTORY_GLIDEINS = declare("gwms_factory_glideins", _G,
                           "Glideins in the factory's schedd by entry, frontend and state.",
                           ("entry", "frontend", "state"))
FACTORY_REQUESTED_IDLE = declare("gwms_factory_requested_idle_glideins", _G,
                                 "Idle glideins frontends request, by entry and frontend.",
                                 ("entry", "frontend"))
FACTORY_REQUESTED_MAX = declare("gwms_factory_requested_max_glideins", _G,
                                "Maximum glideins frontends allow, by entry and frontend.",
                                ("entry", "frontend"))
FACTORY_SUBMITTED = declare("gwms_factory_submitted_glideins_total", _C,
                            "Glideins submitted, by entry and frontend.", ("entry", "frontend"))
FACTORY_REMOVED = declare("gwms_factory_removed_glideins_total", _C,
                          "Glideins removed by the factory, by entry and reason.",
                          ("entry", "reason"))
FACTORY_REFUSED_REQUESTS = declare("gwms_factory_refused_requests", _G,
                                   "Requests refused this cycle, by entry and frontend.",
                                   ("entry", "frontend"))
FACTORY_LAST_CYCLE_SECONDS = declare("gwms_factory_last_cycle_duration_seconds", _G,
                                     "Duration of the last factory cycle.")
FACTORY_CYCLES = declare("gwms_factory_cycles_total", _C,
                         "Factory cycles, by result.", ("result",))

# Frontend: the families gwms_core.frontend.metrics.FrontendMetrics exports (a test
# renders it and compares).
FRONTEND_IDLE_JOBS = declare("gwms_frontend_idle_jobs", _G,
                             "Idle user jobs matching a group.", ("group",))
FRONTEND_RUNNING_JOBS = declare("gwms_frontend_running_jobs", _G,
                                "Running user jobs of a group.", ("group",))
FRONTEND_REQUESTED_IDLE = declare("gwms_frontend_requested_idle_glideins", _G,
                                  "Idle glideins requested, by group and entry.",
                                  ("group", "entry"))
FRONTEND_REQUESTED_MAX = declare("gwms_frontend_requested_max_glideins", _G,
                                 "Maximum glideins allowed, by group and entry.",
                                 ("group", "entry"))
FRONTEND_GLIDEINS = declare("gwms_frontend_glideins", _G,
                            "Glideins the frontend sees, by group, entry and state.",
                            ("group", "entry", "state"))
FRONTEND_CYCLE_SECONDS = declare("gwms_frontend_cycle_duration_seconds", _H,
                                 "Duration of one frontend cycle.")
FRONTEND_CYCLES = declare("gwms_frontend_cycles_total", _C,
                          "Frontend cycles, by result (ok, error).", ("result",))
FRONTEND_ENTRIES = declare("gwms_frontend_entries", _G,
                           "Factory entries the frontend reads from the WMS collector.")
FRONTEND_MATCHED_IDLE = declare("gwms_frontend_matched_idle_jobs", _G,
                                "Idle jobs matching an entry (each counted once per entry), "
                                "by group and entry.", ("group", "entry"))
FRONTEND_UNMATCHED_IDLE = declare("gwms_frontend_unmatched_idle_jobs", _G,
                                  "Idle jobs of a group that match no entry.", ("group",))
FRONTEND_REMOVAL_LEVEL = declare("gwms_frontend_removal_level", _G,
                                 "Requested removal (0 NO, 1 WAIT, 2 IDLE, 3 ALL), by group "
                                 "and entry.", ("group", "entry"))
FRONTEND_ERRORS = declare("gwms_frontend_errors_total", _C,
                          "Problems reported by frontend cycles, by reason.", ("reason",))

LOGSERVER_UPLOADS = declare("gwms_logserver_uploads_total", _C,
                            "Log uploads, by result (stored, refused).", ("result",))
LOGSERVER_REFUSALS = declare("gwms_logserver_upload_refusals_total", _C,
                             "Refused uploads by reason (no_token, malformed, foreign, "
                             "expired, wrong_scope, bad_name, too_large, bad_json, "
                             "invalid_record, length_required, bad_offset).", ("reason",))
LOGSERVER_UPLOAD_BYTES = declare("gwms_logserver_upload_bytes_total", _C,
                                 "Bytes of uploads stored (after sanitising).")
LOGSERVER_REDACTIONS = declare("gwms_logserver_redactions_total", _C,
                               "Secrets replaced by the sanitiser before storing.")
LOGSERVER_GLIDEINS = declare("gwms_logserver_glideins", _G,
                             "Glideins with stored logs, by status.", ("status",))
LOGSERVER_REQUEST_SECONDS = declare("gwms_logserver_request_duration_seconds", _H,
                                    "Time to answer a request, by route.", ("route",))
LOGSERVER_RETENTION_DELETED = declare("gwms_logserver_retention_deleted_total", _C,
                                      "Glideins whose logs retention deleted.")


# --------------------------------------------------------------------------- live metrics


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Family:
    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.spec.labels):
            raise ValueError(f"{self.spec.name} takes labels {self.spec.labels}, "
                             f"got {tuple(sorted(labels))}")
        return tuple(str(labels[n]) for n in self.spec.labels)

    def _labelstr(self, key: tuple[str, ...], extra: str = "") -> str:
        parts = [f'{n}="{_escape(v)}"' for n, v in zip(self.spec.labels, key, strict=True)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""

    def header(self) -> list[str]:
        text = self.spec.help.replace("\\", "\\\\").replace("\n", "\\n")
        return [f"# HELP {self.spec.name} {text}",
                f"# TYPE {self.spec.name} {self.spec.kind.value}"]


class Counter(_Family):
    """A monotonically increasing value per label set."""

    def __init__(self, spec: MetricSpec) -> None:
        super().__init__(spec)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (not negative)."""
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """Current value for a label set (0 if never touched)."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return self.header() + [f"{self.spec.name}{self._labelstr(k)} {_fmt(v)}"
                                for k, v in items]


class Gauge(Counter):
    """A value that goes up and down per label set."""

    def set(self, value: float, **labels: str) -> None:
        """Set the value."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (may be negative)."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def clear(self) -> None:
        """Forget every label set (before setting a fresh snapshot)."""
        with self._lock:
            self._values.clear()


class Histogram(_Family):
    """Observations counted into cumulative buckets, with sum and count."""

    def __init__(self, spec: MetricSpec) -> None:
        super().__init__(spec)
        self._data: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        """Record one observation."""
        key = self._key(labels)
        i = bisect.bisect_left(self.spec.buckets, value)
        with self._lock:
            counts, sc = self._data.setdefault(
                key, ([0] * (len(self.spec.buckets) + 1), [0.0, 0.0]))
            counts[i] += 1
            sc[0] += value
            sc[1] += 1

    def count(self, **labels: str) -> int:
        """How many observations a label set has."""
        with self._lock:
            data = self._data.get(self._key(labels))
            return int(data[1][1]) if data else 0

    def render(self) -> list[str]:
        name = self.spec.name
        lines = self.header()
        with self._lock:
            items = sorted((k, (list(c), list(s))) for k, (c, s) in self._data.items())
        for key, (counts, (total, n)) in items:
            cum = 0
            for bound, c in zip((*self.spec.buckets, math.inf), counts, strict=True):
                cum += c
                le = 'le="' + _fmt(bound) + '"'
                lines.append(f"{name}_bucket{self._labelstr(key, le)} {cum}")
            lines.append(f"{name}_sum{self._labelstr(key)} {_fmt(total)}")
            lines.append(f"{name}_count{self._labelstr(key)} {_fmt(n)}")
        return lines


class MetricsRegistry:
    """The live metrics of one process."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()

    def _get(self, spec: MetricSpec, cls: type[_Family], kind: Kind) -> _Family:
        if spec.kind is not kind:
            raise ValueError(f"{spec.name} is declared as a {spec.kind.value}")
        if DECLARED.get(spec.name) != spec:
            raise ValueError(f"{spec.name} is not declared in gwms_core.metrics")
        with self._lock:
            fam = self._families.get(spec.name)
            if fam is None:
                fam = self._families[spec.name] = cls(spec)
            return fam

    def counter(self, spec: MetricSpec) -> Counter:
        """The counter for a declared spec (created on first use)."""
        fam = self._get(spec, Counter, Kind.COUNTER)
        assert isinstance(fam, Counter)
        return fam

    def gauge(self, spec: MetricSpec) -> Gauge:
        """The gauge for a declared spec."""
        fam = self._get(spec, Gauge, Kind.GAUGE)
        assert isinstance(fam, Gauge)
        return fam

    def histogram(self, spec: MetricSpec) -> Histogram:
        """The histogram for a declared spec."""
        fam = self._get(spec, Histogram, Kind.HISTOGRAM)
        assert isinstance(fam, Histogram)
        return fam

    def render(self) -> str:
        """Every family in the Prometheus text format."""
        with self._lock:
            fams = sorted(self._families.items())
        lines: list[str] = []
        for _, fam in fams:
            lines.extend(fam.render())  # type: ignore[attr-defined]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTTP


class _MetricsHandler(http.server.BaseHTTPRequestHandler):
    render: Callable[[], str]

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404)
            return
        body = type(self).render().encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged."""


def start_http_server(source: MetricsRegistry | Callable[[], str], host: str = "127.0.0.1",
                      port: int = 0, ssl_context: ssl.SSLContext | None = None
                      ) -> tuple[http.server.ThreadingHTTPServer, threading.Thread]:
    """Serve ``GET /metrics`` in a daemon thread; ``port=0`` picks a free port.

    :param source: a registry, or a function returning exposition text (the factory's
        ``gwms_core.factory.metrics.render`` of its last cycle, for instance).
    Returns the server (``server.server_address`` has the port; ``server.shutdown()``
    stops it) and its thread. With ``ssl_context`` the endpoint is HTTPS.
    """
    render = source.render if isinstance(source, MetricsRegistry) else source
    handler = type("MetricsHandler", (_MetricsHandler,), {"render": staticmethod(render)})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server, thread
