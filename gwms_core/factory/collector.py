"""The WMS collector edge: advertise entry and client ads, read request ads (htcondor2).

Ads are sent with ``UPDATE_AD_GENERIC`` (MyType ``glidefactory`` and
``glidefactoryclient``, as GlideinWMS does); the collector keeps them until they expire
(``ClassAdLifetime``, set here to three cycles) or the factory invalidates them with
``INVALIDATE_ADS_GENERIC``. Generic ads need the ``ADVERTISE_MASTER``-level
authorization the collector grants to ``DAEMON``/``ADVERTISE_*`` identities; see
docs/factory.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from gwms_core.factory import attrs as A
from gwms_core.factory.ads import classad_string

log = logging.getLogger("gwms.factory")

_T = TypeVar("_T")


def _bindings() -> tuple[Any, Any]:
    import classad2
    import htcondor2

    return htcondor2, classad2


class WmsCollector:
    """The WMS collector, as the factory uses it."""

    def __init__(self, address: str | None) -> None:
        """:param address: ``host:port``; None for the configured ``COLLECTOR_HOST``."""
        h, _ = _bindings()
        self.address = address
        self.collector = h.Collector(address) if address else h.Collector()

    def _call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn``; after a communication error (the collector restarted, a cached
        security session went stale) invalidate the cached sessions, make a new
        ``Collector`` and retry once (every call here is idempotent)."""
        from gwms_core.factory.schedd import invalidate_sessions, is_communication_error

        try:
            return fn()
        except Exception as exc:
            if not is_communication_error(exc):
                raise
            h, _ = _bindings()
            how = invalidate_sessions()
            self.collector = h.Collector(self.address) if self.address else h.Collector()
            log.warning("WMS collector: %s: %s; %s, retrying once", type(exc).__name__, exc,
                        f"cached security sessions invalidated ({how})" if how
                        else "new Collector object")
            return fn()

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
            self._call(lambda: self.collector.advertise(out, "UPDATE_AD_GENERIC"))
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
            self._call(lambda: self.collector.advertise(out, "INVALIDATE_ADS_GENERIC"))
        return len(out)

    def query(self, mytype: str, constraint: str = "true") -> list[dict[str, Any]]:
        """Ads of ``mytype`` matching ``constraint``, as plain dicts."""
        h, _ = _bindings()
        full = f"MyType == {classad_string(mytype)} && ({constraint})"
        ads = self._call(lambda: self.collector.query(h.AdTypes.Any, constraint=full))
        return [dict(ad) for ad in ads]

    def requests(self, factory: str, glidein: str) -> list[dict[str, Any]]:
        """Every request ad; :func:`gwms_core.factory.intake.read_requests` picks this factory's."""
        return self.query(A.REQUEST_MYTYPE)
