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
    #: ``changed(reference, now)``: whether a new fingerprint warrants a cycle; default:
    #: any difference.
    changed: Callable[[Hashable, Hashable], bool] | None = None
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
                now_fp = self._fingerprint()
                differs = (self.changed(self._base, now_fp) if self.changed is not None
                           else now_fp != self._base)
                if differs:
                    self.early += 1
                    return "change"
                next_poll = self.clock() + self.poll_s
            self.sleep(max(0.0, min(0.5, due - now, next_poll - now)))


# --------------------------------------------------------------------------- probes
# Each returns a hashable fingerprint from one collector query with a small projection.

#: Request ad attributes the factory watches. Only a new request or a higher
#: ``ReqIdleGlideins``/``ReqMaxGlideins`` wakes it (use ``changed=requests_rose``):
#: lowered requests and removals wait for the regular cycle, because the factory sees a
#: glidein that has just started at the site as still waiting (the grid job's status
#: lags the batch system by up to the blahp and gridmanager poll intervals) and would
#: remove it, with the job it already runs (seen on the e2e grid).
REQUEST_FINGERPRINT_ATTRS = ("Name", "ReqIdleGlideins", "ReqMaxGlideins")
#: Schedd ad attributes the frontend watches: a schedd's idle job count going up is new
#: demand. Only a rise wakes it: job starts and ends must not add cycles, since the
#: frontend's removal rules count cycles without idle jobs (an early cycle after a job
#: started would make the removal of a glidein the factory still sees as waiting, but
#: that already runs the job, come sooner).
SCHEDD_FINGERPRINT_ATTRS = ("Name", "TotalIdleJobs")


def _collector(address: str | None, label: str) -> Any:
    """A :class:`~gwms_core.factory.collector.CollectorHandle`: it follows the
    collector's host to a new address (a plain ``htcondor2.Collector`` keeps the address
    it resolved first, and a probe holding one failed forever after the central manager
    moved: no early cycle any more, and every poll waited for a connection timeout)."""
    from gwms_core.factory.collector import CollectorHandle

    return CollectorHandle(address, label)


def _fingerprint(ads: Iterable[Any], attrs: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(str(ad.get(a, "")) for a in attrs) for ad in ads)


def request_probe(wms_collector: str | None, factory: str,
                  glidein: str) -> Callable[[], Hashable]:
    """Factory: ``(Name, ReqIdleGlideins, ReqMaxGlideins)`` of the request ads whose
    ``ReqName`` ends in ``@<glidein>@<factory>`` (one collector query); use with
    ``changed=requests_rose``."""
    import htcondor2

    coll = _collector(wms_collector, "WMS collector (wake poll)")
    suffix = f"@{glidein}@{factory}"

    def probe() -> Hashable:
        ads = coll.call(lambda c: c.query(htcondor2.AdType.Any,
                                          constraint='MyType == "glideclient"',
                                          projection=[*REQUEST_FINGERPRINT_ATTRS,
                                                      "ReqName"]), retry=False)
        return _fingerprint([ad for ad in ads if str(ad.get("ReqName", "")).endswith(suffix)],
                            REQUEST_FINGERPRINT_ATTRS)

    return probe


def _numbers(fp: Hashable) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for item in fp if isinstance(fp, frozenset) else ():
        name, *values = item
        out[name] = tuple(int(v) if str(v).isdigit() else 0 for v in values)
    return out


def requests_rose(reference: Hashable, now: Hashable) -> bool:
    """For :func:`request_probe` fingerprints: whether a request is new or asks for more
    (``ReqIdleGlideins`` or ``ReqMaxGlideins`` higher than in ``reference``)."""
    before, after = _numbers(reference), _numbers(now)
    return any(name not in before
               or any(a > b for a, b in zip(vals, before[name], strict=False))
               for name, vals in after.items())


def idle_rose(reference: Hashable, now: Hashable) -> bool:
    """For :func:`schedd_probe` fingerprints: whether any schedd's ``TotalIdleJobs`` is
    higher than in ``reference`` (a schedd not there before counts from 0)."""
    before, after = _numbers(reference), _numbers(now)
    return any(vals[0] > before.get(name, (0,))[0] for name, vals in after.items())


def schedd_probe(collectors: list[str]) -> Callable[[], Hashable]:
    """Frontend: ``(Name, TotalIdleJobs)`` of every schedd ad in the user pools'
    collectors (one query per pool); use with ``changed=idle_rose``. A schedd sends its
    ad after a submission's reschedule, so a new idle job shows here within a second of
    ``condor_submit``."""
    import htcondor2

    colls = [_collector(c, "user pool collector (wake poll)") for c in collectors]

    def probe() -> Hashable:
        out: set[tuple[str, ...]] = set()
        for coll in colls:
            ads = coll.call(lambda c: c.query(htcondor2.AdType.Schedd,
                                              projection=list(SCHEDD_FINGERPRINT_ATTRS)),
                            retry=False)
            out |= _fingerprint(ads, SCHEDD_FINGERPRINT_ATTRS)
        return frozenset(out)

    return probe
