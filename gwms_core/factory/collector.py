"""The WMS collector edge: advertise entry and client ads, read request ads (htcondor2).

Ads are sent with ``UPDATE_AD_GENERIC`` (MyType ``glidefactory`` and
``glidefactoryclient``, as GlideinWMS does); the collector keeps them until they expire
(``ClassAdLifetime``, set here to three cycles) or the factory invalidates them with
``INVALIDATE_ADS_GENERIC``. Generic ads need the ``ADVERTISE_MASTER``-level
authorization the collector grants to ``DAEMON``/``ADVERTISE_*`` identities; see
docs/factory.md.

A long-running process must follow the collector when its host moves to another IP
address: an ``htcondor2.Collector`` resolves its host name once, on its first call, and
keeps that address for its lifetime. :class:`CollectorHandle` therefore resolves the name
before each use and builds a new ``Collector`` (dropping the cached security sessions)
when the addresses differ from those the current one was built with, and after any
communication error. See docs/factory.md, "Central manager address changes".
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from gwms_core.factory import attrs as A
from gwms_core.factory.ads import classad_string

log = logging.getLogger("gwms.factory")

_T = TypeVar("_T")

#: What ``htcondor2`` 23.x raises as ``RuntimeError`` (24.x/25.x: ``HTCondorException``)
#: when the collector cannot be reached or located; ``advertise`` raises ``OSError``.
COLLECTOR_RUNTIME_ERRORS = (
    "Failed communication with collector",
    "Unable to locate collector",
    "Unable to determine collector host",
)


def _bindings() -> tuple[Any, Any]:
    import classad2
    import htcondor2

    return htcondor2, classad2


# --------------------------------------------------------------------------- pure parts

def collector_hosts(address: str) -> tuple[str, ...]:
    """The host names or IP literals in a collector address: ``host``, ``host:port``,
    a sinful string ``<ip:port?...>``, ``[v6]:port``, or a list separated by commas or
    blanks (``COLLECTOR_HOST``); duplicates dropped, order kept."""
    out: list[str] = []
    for item in address.replace(",", " ").split():
        item = item.strip()
        if item.startswith("<"):
            item = item[1:].split(">", 1)[0].split("?", 1)[0]
        if item.startswith("["):
            host = item[1:].split("]", 1)[0]
        elif item.count(":") == 1:
            host = item.split(":", 1)[0]
        else:
            host = item  # a bare name, or an IPv6 literal without brackets
        if host and host not in out:
            out.append(host)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class AddressChange:
    """The collector's host names now resolve to other addresses than before."""

    address: str
    before: tuple[str, ...]
    now: tuple[str, ...]

    def describe(self) -> str:
        """One log phrase, e.g. ``cm.example.org now resolves to 10.0.0.20 (was 10.0.0.10)``."""
        return (f"{self.address} now resolves to {', '.join(self.now)} "
                f"(was {', '.join(self.before) or 'unresolved'})")


def address_change(address: str, before: tuple[str, ...] | None,
                   now: tuple[str, ...]) -> AddressChange | None:
    """Whether to build a new ``Collector``: the resolved addresses ``now`` differ from
    ``before`` (those the current one was built with; None: not known yet). An empty
    ``now`` (the name did not resolve: a DNS outage, or the host is being moved) never
    counts: the current object stays, and the change is seen once the name resolves."""
    if before is None or not now or now == before:
        return None
    return AddressChange(address, before, now)


def is_collector_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the collector could not be reached or located: what
    :func:`gwms_core.factory.schedd.is_communication_error` accepts (``OSError``,
    ``HTCondorException``), and the ``RuntimeError`` of htcondor2 23.x's ``query`` and
    ``advertise`` (:data:`COLLECTOR_RUNTIME_ERRORS`)."""
    from gwms_core.factory.schedd import is_communication_error

    if is_communication_error(exc):
        return True
    return isinstance(exc, RuntimeError) and str(exc).startswith(COLLECTOR_RUNTIME_ERRORS)


# --------------------------------------------------------------------------- I/O edge

def resolve(hosts: Iterable[str]) -> tuple[str, ...]:
    """Sorted IP addresses the hosts resolve to now (the system resolver, no cache of
    ours); () when none resolves."""
    found: set[str] = set()
    for host in hosts:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            continue
        found.update(str(info[4][0]) for info in infos)
    return tuple(sorted(found))


def _configured_collector() -> str:
    try:
        return str(_bindings()[0].param.get("COLLECTOR_HOST", "") or "")
    except Exception:  # no bindings or no configuration: nothing to follow
        return ""


def invalidate_cached_sessions() -> str:
    """:func:`gwms_core.factory.schedd.invalidate_sessions` (imported lazily)."""
    from gwms_core.factory.schedd import invalidate_sessions

    return invalidate_sessions()


class CollectorHandle:
    """An ``htcondor2.Collector`` that follows its host's address.

    :meth:`get` resolves the collector's host names (``address``, or the configured
    ``COLLECTOR_HOST`` when None) and returns the current ``Collector``, after building a
    new one if the names resolve to other addresses than when it was built (logged as a
    warning naming the old and new addresses). :meth:`call` runs a call with it and, after
    a collector error (:func:`is_collector_error`), builds a new one and retries once.
    New ``Collector`` objects come with the process's cached security sessions dropped:
    a session cached for an address whose collector restarted is unknown to it.
    """

    def __init__(self, address: str | None, label: str = "WMS collector",
                 make: Callable[[str | None], Any] | None = None,
                 lookup: Callable[[Iterable[str]], tuple[str, ...]] = resolve,
                 invalidate: Callable[[], str] = invalidate_cached_sessions) -> None:
        """:param address: ``host[:port]``; None for the configured ``COLLECTOR_HOST``.
        :param label: names the collector in log lines.
        :param make: builds a ``Collector`` for ``address`` (default: ``htcondor2``).
        :param lookup: resolves host names to addresses (default: :func:`resolve`).
        :param invalidate: drops the cached security sessions; returns the API used."""
        self.address = address
        self.label = label
        self._make = make or _make_collector
        self._lookup = lookup
        self._invalidate = invalidate
        self._resolved: tuple[str, ...] | None = self._resolve()
        self._collector: Any = self._make(address)
        #: New ``Collector`` objects since the start: address changes and errors.
        self.renewals = 0
        #: Of those, after the name resolved to other addresses.
        self.address_changes = 0

    def _name(self) -> str:
        return self.address or _configured_collector()

    def _resolve(self) -> tuple[str, ...]:
        return self._lookup(collector_hosts(self._name()))

    def _renew(self, resolved: tuple[str, ...] | None) -> str:
        how = self._invalidate()
        self._collector = self._make(self.address)
        self._resolved = resolved if resolved else self._resolved
        self.renewals += 1
        return (f"new Collector, cached security sessions dropped ({how})" if how
                else "new Collector")

    def get(self) -> Any:
        """The ``Collector`` to use now (a new one if the host's address changed)."""
        now = self._resolve()
        if self._resolved is None or not self._resolved:
            self._resolved = now or None
            return self._collector
        change = address_change(self._name(), self._resolved, now)
        if change is not None:
            self.address_changes += 1
            log.warning("%s %s: %s", self.label, change.describe(), self._renew(now))
        return self._collector

    def call(self, fn: Callable[[Any], _T], retry: bool = True) -> _T:
        """``fn(collector)``; after a collector error, a new ``Collector`` and one retry
        (callers pass idempotent calls only); with ``retry`` False the error is raised
        and the new ``Collector`` serves the next call (for frequent probes)."""
        try:
            return fn(self.get())
        except Exception as exc:
            if not is_collector_error(exc):
                raise
            now = self._resolve()
            change = address_change(self._name(), self._resolved, now)
            what = self._renew(now)
            where = change.describe() if change else self._name()
            if change is not None:
                self.address_changes += 1
            if not retry:
                # A probe: quiet unless the collector moved (the next poll uses the new one).
                log.log(logging.WARNING if change else logging.DEBUG, "%s %s: %s: %s; %s",
                        self.label, where, type(exc).__name__, exc, what)
                raise
            log.warning("%s %s: %s: %s; %s, retrying once", self.label, where,
                        type(exc).__name__, exc, what)
            return fn(self._collector)


def _make_collector(address: str | None) -> Any:
    h, _ = _bindings()
    return h.Collector(address) if address else h.Collector()


class WmsCollector:
    """The WMS collector, as the factory uses it."""

    def __init__(self, address: str | None) -> None:
        """:param address: ``host:port``; None for the configured ``COLLECTOR_HOST``."""
        self.address = address
        self.handle = CollectorHandle(address, "WMS collector")

    @property
    def collector(self) -> Any:
        """The ``htcondor2.Collector`` in use now (see :class:`CollectorHandle`)."""
        return self.handle.get()

    def _call(self, fn: Callable[[Any], _T]) -> _T:
        return self.handle.call(fn)

    def advertise(self, ads: Iterable[Mapping[str, Any]], lifetime_s: int) -> int:
        """Send ads (one connection); return how many."""
        _, classad = _bindings()
        out = []
        for ad in ads:
            c = classad.ClassAd()
            for key, value in ad.items():
                c[key] = value
            c["ClassAdLifetime"] = int(lifetime_s)
            out.append(c)
        if out:
            self._call(lambda coll: coll.advertise(out, "UPDATE_AD_GENERIC"))
        return len(out)

    def invalidate(self, mytype: str, names: Iterable[str]) -> int:
        """Withdraw ads of ``mytype`` by ``Name``; return how many were asked for."""
        _, classad = _bindings()
        out = []
        for name in names:
            q = classad.ClassAd({"MyType": "Query", "TargetType": mytype})
            q["Requirements"] = classad.ExprTree(f"Name == {classad_string(name)}")
            out.append(q)
        if out:
            self._call(lambda coll: coll.advertise(out, "INVALIDATE_ADS_GENERIC"))
        return len(out)

    def query(self, mytype: str, constraint: str = "true",
              projection: list[str] | None = None) -> list[dict[str, Any]]:
        """Ads of ``mytype`` matching ``constraint``, as plain dicts."""
        h, _ = _bindings()
        full = f"MyType == {classad_string(mytype)} && ({constraint})"
        ads = self._call(lambda coll: coll.query(h.AdTypes.Any, constraint=full,
                                                 projection=projection or []))
        return [dict(ad) for ad in ads]

    def requests(self, factory: str, glidein: str) -> list[dict[str, Any]]:
        """Every request ad; :func:`gwms_core.factory.intake.read_requests` picks this factory's."""
        return self.query(A.REQUEST_MYTYPE)
