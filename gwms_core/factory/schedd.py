"""The factory schedd edge: query glideins, submit batches, remove and release (htcondor2).

Only this module and :mod:`gwms_core.factory.collector` import ``htcondor2``; they
do so lazily so the rest of the factory imports without the bindings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gwms_core.factory import attrs as A
from gwms_core.factory.ads import classad_string
from gwms_core.factory.model import Glidein

#: ``JobUniverse`` of grid jobs. HTCondor-C copies a job's attributes, tags included, to
#: the remote schedd; restricting to the grid universe keeps such copies (vanilla jobs)
#: out of the count when the remote schedd is the factory's own.
GRID_UNIVERSE = 9


def glidein_constraint(factory: str, glidein: str) -> str:
    """The queue constraint selecting this factory's glideins."""
    return (f"JobUniverse == {GRID_UNIVERSE} && {A.FACTORY} == {classad_string(factory)}"
            f" && {A.GLIDEIN_NAME} == {classad_string(glidein)}")


def _htcondor() -> Any:
    import htcondor2

    return htcondor2


class FactorySchedd:
    """The factory's schedd, seen through this factory's tags."""

    def __init__(self, schedd: Any, factory: str, glidein: str) -> None:
        """:param schedd: an ``htcondor2.Schedd``."""
        self.schedd = schedd
        self.factory = factory
        self.glidein = glidein
        self.constraint = glidein_constraint(factory, glidein)

    @classmethod
    def connect(cls, factory: str, glidein: str, name: str | None = None,
                collector: str | None = None) -> FactorySchedd:
        """Locate the schedd: by ``name`` through ``collector``; without a name, the local
        schedd (HTCondor's configuration on this host)."""
        h = _htcondor()
        if name:
            coll = h.Collector(collector) if collector else h.Collector()
            return cls(h.Schedd(coll.locate(h.DaemonType.Schedd, name)), factory, glidein)
        return cls(h.Schedd(), factory, glidein)

    def glideins(self) -> list[Glidein]:
        """Every glidein of this factory in the queue."""
        ads = self.schedd.query(constraint=self.constraint, projection=list(A.JOB_ATTRS))
        return [Glidein.from_ad(ad) for ad in ads]

    def count_submission(self, submission_id: str) -> int:
        """Jobs in the queue tagged with ``submission_id``."""
        ads = self.schedd.query(
            constraint=f"{self.constraint} && {A.SUBMISSION} == {classad_string(submission_id)}",
            projection=["ClusterId"])
        return len(ads)

    def submit(self, description: Mapping[str, str], count: int) -> int:
        """Submit ``count`` jobs in one transaction; return the cluster id."""
        h = _htcondor()
        result = self.schedd.submit(h.Submit(dict(description)), count=count)
        return int(result.cluster())

    def remove(self, job_ids: Sequence[str], reason: str) -> int:
        """Remove jobs; return how many the schedd changed."""
        if not job_ids:
            return 0
        h = _htcondor()
        res = self.schedd.act(h.JobAction.Remove, list(job_ids), reason=(reason, 0))
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
        for n, ids in by_count.items():
            self.schedd.edit(ids, A.RELEASES, str(n))
        ids = [i for group in by_count.values() for i in group]
        res = self.schedd.act(h.JobAction.Release, ids, reason=(reason, 0))
        return int(res["TotalSuccess"]) if res is not None else 0
