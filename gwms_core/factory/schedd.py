"""The factory schedd edge: query glideins, submit batches, remove and release (htcondor2).

Only this module and :mod:`gwms_core.factory.collector` import ``htcondor2``; they
do so lazily so the rest of the factory imports without the bindings.

A long-running factory outlives its schedd: after a restart of the schedd (or of the
whole HTCondor on the host) the schedd has a new address (a new shared-port socket name)
and the security sessions the process cached are unknown to it. Every call therefore
goes through :meth:`FactorySchedd._call`: on a communication error
(:func:`is_communication_error`) it drops the cached sessions
(:func:`invalidate_sessions`), locates the schedd again and retries the call once. See
docs/factory.md, "Schedd restarts".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from gwms_core.factory import attrs as A
from gwms_core.factory.ads import classad_string
from gwms_core.factory.model import Glidein

#: ``JobUniverse`` of grid jobs. HTCondor-C copies a job's attributes, tags included, to
#: the remote schedd; restricting to the grid universe keeps such copies (vanilla jobs)
#: out of the count when the remote schedd is the factory's own.
GRID_UNIVERSE = 9

log = logging.getLogger("gwms.factory")

_T = TypeVar("_T")


def glidein_constraint(factory: str, glidein: str) -> str:
    """The queue constraint selecting this factory's glideins."""
    return (f"JobUniverse == {GRID_UNIVERSE} && {A.FACTORY} == {classad_string(factory)}"
            f" && {A.GLIDEIN_NAME} == {classad_string(glidein)}")


def _htcondor() -> Any:
    import htcondor2

    return htcondor2


def invalidate_sessions() -> str:
    """Drop every security session this process has cached; return the API used, "" if
    the installed bindings have none.

    ``htcondor2`` (23.x to 25.x) has no such call; the ``htcondor`` (v1) module that
    HTCondor 23.x and 24.0 ship beside it has ``SecMan.invalidateAllSessions``, and it
    empties the cache ``htcondor2`` uses too (one ``libcondor_utils`` per process; checked
    with Debian 13's 23.9.6 and ``D_SECURITY`` logs). With neither, locating the daemon
    again still helps: sessions are cached per address, and a daemon whose address did
    not change rejects the stale session id once, after which HTCondor drops it.
    """
    for module in ("htcondor2", "htcondor"):
        try:
            secman = getattr(__import__(module), "SecMan", None)
        except Exception:  # v1 absent (PyPI 25.x) or refusing to load
            continue
        if secman is not None:
            try:
                secman().invalidateAllSessions()
            except Exception as exc:  # never keep the caller from locating the daemon
                log.warning("%s.SecMan.invalidateAllSessions failed: %s: %s", module,
                            type(exc).__name__, exc)
                return ""
            return f"{module}.SecMan.invalidateAllSessions"
    return ""


def is_communication_error(exc: BaseException) -> bool:
    """Whether ``exc`` is what htcondor2 raises when talking to a daemon failed:
    ``HTCondorException`` (24.x, 25.x) or ``OSError`` (23.x has no ``HTCondorException``
    and raises ``IOError``, e.g. "Failed to fetch ads from schedd")."""
    if isinstance(exc, OSError):
        return True
    try:
        error = getattr(_htcondor(), "HTCondorException", None)
    except ImportError:
        return False
    return error is not None and isinstance(exc, error)


class FactorySchedd:
    """The factory's schedd, seen through this factory's tags."""

    def __init__(self, schedd: Any, factory: str, glidein: str,
                 locate: Callable[[], Any] | None = None, name: str = "") -> None:
        """:param schedd: an ``htcondor2.Schedd``.
        :param locate: returns a freshly located ``htcondor2.Schedd``; without it a
            communication error is raised as is (no re-location, no retry).
        :param name: the schedd's ``Name`` (the head of its jobs' ``GlobalJobId``), passed
            to glideins as ``--schedd``; "" when unknown."""
        self.schedd = schedd
        self.name = name
        self.factory = factory
        self.glidein = glidein
        self.constraint = glidein_constraint(factory, glidein)
        self.locate = locate
        #: How many times the schedd was located again after a communication error.
        self.reconnects = 0

    def reconnect(self, cause: BaseException) -> None:
        """Invalidate the cached security sessions and locate the schedd again (logged).

        Raises what locating raises (the schedd is still down): the caller's error stands.
        """
        how = invalidate_sessions()
        if self.locate is None:
            raise cause
        self.schedd = self.locate()
        self.reconnects += 1
        log.warning("factory schedd: %s: %s; %s, schedd located again",
                    type(cause).__name__, cause,
                    f"cached security sessions invalidated ({how})" if how
                    else "no API to invalidate cached security sessions")

    def _call(self, fn: Callable[[], _T], retry: bool = True) -> _T:
        """Run ``fn``; on a communication error reconnect, then retry once (``retry``) or
        re-raise (a submission, whose outcome the caller checks by its submission id)."""
        try:
            return fn()
        except Exception as exc:
            if not is_communication_error(exc) or self.locate is None:
                raise
            try:
                self.reconnect(exc)
            except Exception as again:
                log.warning("factory schedd: locating it again failed: %s: %s",
                            type(again).__name__, again)
                raise exc from again
            if not retry:
                raise
            return fn()

    @classmethod
    def connect(cls, factory: str, glidein: str, name: str | None = None,
                collector: str | None = None) -> FactorySchedd:
        """Locate the schedd: by ``name`` through ``collector``; without a name, the local
        schedd (HTCondor's configuration on this host)."""
        found = {"name": name or ""}

        def locate() -> Any:
            h = _htcondor()
            if name:
                coll = h.Collector(collector) if collector else h.Collector()
                ad = coll.locate(h.DaemonType.Schedd, name)
                if ad is None:  # Schedd(None) would quietly pick the local schedd
                    raise OSError(f"schedd {name!r} not in the collector")
            else:
                # What Schedd() does without an argument; the ad also gives the Name.
                ad = h.Collector().locate(h.DaemonType.Schedd)
            found["name"] = str(ad.get("Name") or found["name"])
            return h.Schedd(ad)

        schedd = locate()
        return cls(schedd, factory, glidein, locate=locate, name=found["name"])

    def glideins(self) -> list[Glidein]:
        """Every glidein of this factory in the queue."""
        ads = self._call(lambda: self.schedd.query(constraint=self.constraint,
                                                   projection=list(A.JOB_ATTRS)))
        return [Glidein.from_ad(ad) for ad in ads]

    def count_submission(self, submission_id: str) -> int:
        """Jobs in the queue tagged with ``submission_id``."""
        ads = self._call(lambda: self.schedd.query(
            constraint=f"{self.constraint} && {A.SUBMISSION} == {classad_string(submission_id)}",
            projection=["ClusterId"]))
        return len(ads)

    def submit(self, description: Mapping[str, str], count: int) -> int:
        """Submit ``count`` jobs in one transaction; return the cluster id.

        Never retried here: after a communication error the batch may or may not be in
        the queue, which the caller settles by counting its submission id.
        """
        h = _htcondor()
        result = self._call(lambda: self.schedd.submit(h.Submit(dict(description)),
                                                       count=count), retry=False)
        # As condor_submit does after a submission: the schedd counts its jobs at once and
        # starts or signals the gridmanager, rather than at a later periodic pass (on the
        # e2e grid the gridmanager sometimes started 5 s after the submission without
        # it; docs/latency.md).
        try:
            self.schedd.reschedule()
        except Exception as exc:  # the batch is in the queue; the schedd gets to it later
            log.warning("reschedule after submit failed: %s: %s", type(exc).__name__, exc)
        return int(result.cluster())

    def remove(self, job_ids: Sequence[str], reason: str) -> int:
        """Remove jobs; return how many the schedd changed."""
        if not job_ids:
            return 0
        h = _htcondor()
        # Idempotent: a retry after a lost answer removes nothing twice.
        res = self._call(lambda: self.schedd.act(h.JobAction.Remove, list(job_ids),
                                                 reason=(reason, 0)))
        return int(res["TotalSuccess"]) if res is not None else 0

    def release(self, glideins: Iterable[Glidein], reason: str) -> int:
        """Count one more release on each glidein (``GwmsReleases``), then release them.

        The count is written first: a crash in between over-counts by one, which only
        makes the policy stricter, never lets a glidein be released without limit.
        """
        h = _htcondor()
        by_count: dict[int, list[str]] = defaultdict(list)
        for g in glideins:
            by_count[g.releases + 1].append(g.job_id)
        if not by_count:
            return 0
        ids = [i for group in by_count.values() for i in group]

        def edit_and_release() -> Any:  # idempotent: the counts written are absolute
            for n, group in by_count.items():
                self.schedd.edit(group, A.RELEASES, str(n))
            return self.schedd.act(h.JobAction.Release, ids, reason=(reason, 0))

        res = self._call(edit_and_release)
        return int(res["TotalSuccess"]) if res is not None else 0
