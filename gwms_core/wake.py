"""Early cycles: wait for the next cycle, but start it sooner when the input changed.

The factory and the frontend cycle every ``cycle_seconds``. Between two cycles a
:class:`ChangeWatch` polls a cheap *fingerprint* of the service's input every
``poll_s`` seconds (the frontend: the user schedds' job counts in their collector ads;
the factory: the values of the request ads addressed to it) and ends the wait as soon
as the fingerprint differs from the one taken just before the last cycle started, but
never sooner than ``min_interval_s`` after that start. A change that happened while a
cycle ran is therefore seen too (the snapshot predates the cycle), and a busy input
cannot make cycles more frequent than one per ``min_interval_s``.

A probe that raises counts as "no change": the regular cycle still comes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("gwms.wake")


@dataclass
class ChangeWatch:
    """Polls ``probe`` between cycles; see the module docstring."""

    probe: Callable[[], Hashable]
    poll_s: float = 2.0
    min_interval_s: float = 2.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    #: Early wakes since the start (for logs and metrics).
    early: int = 0
    _base: Hashable = field(default=None, init=False, repr=False)

    def _fingerprint(self) -> Hashable:
        try:
            return self.probe()
        except Exception as exc:  # a failing probe must never stop the service
            log.debug("change probe failed: %s: %s", type(exc).__name__, exc)
            return self._base

    def snapshot(self) -> None:
        """Take the reference fingerprint: call just before a cycle starts."""
        self._base = self._fingerprint()

    def wait(self, cycle_started: float, cycle_seconds: float,
             stop: Callable[[], bool] = lambda: False) -> str:
        """Wait until the next cycle is due; return why: ``"timer"``, ``"change"`` or
        ``"stop"``. ``cycle_started`` is the :attr:`clock` time the last cycle began."""
        due = cycle_started + cycle_seconds
        earliest = cycle_started + self.min_interval_s
        next_poll = max(self.clock(), earliest) if self.poll_s > 0 else float("inf")
        while True:
            if stop():
                return "stop"
            now = self.clock()
            if now >= due:
                return "timer"
            if now >= next_poll:
                if self._fingerprint() != self._base:
                    self.early += 1
                    return "change"
                next_poll = self.clock() + self.poll_s
            self.sleep(max(0.0, min(0.5, due - now, next_poll - now)))


# --------------------------------------------------------------------------- probes
# Each returns a hashable fingerprint from one collector query with a small projection.

#: Request ad attributes whose change means the factory has something new to do.
REQUEST_FINGERPRINT_ATTRS = ("Name", "ReqName", "AuthenticatedIdentity", "ReqIdleGlideins",
                             "ReqMaxGlideins", "ReqRemoveExcess", "ReqRemoveExcessMargin")
#: Schedd ad attributes whose change means the frontend's demand may have changed.
SCHEDD_FINGERPRINT_ATTRS = ("Name", "TotalIdleJobs", "TotalRunningJobs", "TotalHeldJobs")


def _collector(address: str | None) -> Any:
    import htcondor2

    return htcondor2.Collector(address) if address else htcondor2.Collector()


def _fingerprint(ads: Iterable[Any], attrs: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(str(ad.get(a, "")) for a in attrs) for ad in ads)


def request_probe(wms_collector: str | None, factory: str,
                  glidein: str) -> Callable[[], Hashable]:
    """Factory: the values of the request ads whose ``ReqName`` ends in
    ``@<glidein>@<factory>`` (one collector query)."""
    import htcondor2

    coll = _collector(wms_collector)
    suffix = f"@{glidein}@{factory}"

    def probe() -> Hashable:
        ads = coll.query(htcondor2.AdType.Any,
                         constraint='MyType == "glideclient"',
                         projection=list(REQUEST_FINGERPRINT_ATTRS))
        return _fingerprint([ad for ad in ads if str(ad.get("ReqName", "")).endswith(suffix)],
                            REQUEST_FINGERPRINT_ATTRS)

    return probe


def schedd_probe(collectors: list[str]) -> Callable[[], Hashable]:
    """Frontend: the job counts of every schedd ad in the user pools' collectors (one
    query per pool). A schedd sends its ad after a submission's reschedule, so a new
    idle job shows here within a second of ``condor_submit``."""
    import htcondor2

    colls = [_collector(c) for c in collectors]

    def probe() -> Hashable:
        out: set[tuple[str, ...]] = set()
        for coll in colls:
            ads = coll.query(htcondor2.AdType.Schedd,
                             projection=list(SCHEDD_FINGERPRINT_ATTRS))
            out |= _fingerprint(ads, SCHEDD_FINGERPRINT_ATTRS)
        return frozenset(out)

    return probe
