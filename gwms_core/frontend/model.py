"""Plain data for the frontend decision: jobs, entries, glideins, limits and requests.

Everything here is a frozen, slotted dataclass with no behaviour beyond small derived
values, so that the decision functions stay pure and the objects are cheap to build in bulk
(the benchmark builds 100,000 :class:`Job` objects per cycle).

Names follow GlideinWMS where the meaning is the same; each field's docstring gives the
GlideinWMS configuration or ClassAd attribute name it corresponds to.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: HTCondor ``JobStatus`` values the frontend cares about.
JOB_IDLE = 1
JOB_RUNNING = 2


@dataclass(frozen=True, slots=True)
class Job:
    """One job from a user schedd, as returned by the job query.

    ``attrs`` holds the job ClassAd attributes the frontend needs (at least the ones the
    match expression reads, plus ``RequestCpus`` and ``RequestMemory``). Attribute names
    are matched case-insensitively, as in ClassAds; the exact spelling used in the match
    expression is the fast path.
    """

    schedd: str
    cluster: int
    proc: int
    #: ``JobStatus``: 1 idle, 2 running (other values are ignored by the decision).
    status: int
    #: ``EnteredCurrentStatus`` (seconds since the epoch); used for "old idle" jobs.
    entered_status: int
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobGroup:
    """Jobs that agree on every attribute the match expression reads.

    The match expression is evaluated once per group and entry. ``key`` is the tuple of
    values of :attr:`MatchExpression.job_attrs` (in that order) followed by the request
    cores, memory and GPUs; ``attrs`` maps the attribute names to those values (absent when the
    jobs do not define the attribute, which ClassAds read as ``UNDEFINED``).
    """

    key: tuple[Any, ...]
    attrs: Mapping[str, Any]
    #: ``RequestCpus`` of the jobs in the group (cores per job, at least 1).
    cpus: int
    #: ``RequestMemory`` of the jobs in the group, MB.
    memory: int
    #: Number of idle jobs (``JobStatus == 1``).
    idle: int = 0
    #: Idle jobs that have been idle longer than the "old idle" age (600 s by default).
    old_idle: int = 0
    #: Number of running jobs (``JobStatus == 2``), for monitoring.
    running: int = 0
    #: ``RequestGPUs`` of the jobs in the group (0 when the jobs ask for none).
    gpus: int = 0


@dataclass(frozen=True, slots=True)
class Entry:
    """A factory entry as the frontend sees it (from the factory's entry ClassAd).

    The match expression sees ``glidein.<attr>`` for every key of :meth:`classad_attrs`:
    ``attrs`` plus the standard GlideinWMS names derived from the typed fields
    (``GLIDEIN_Site``, ``GLIDEIN_CPUS``, ``GLIDEIN_MaxMemMBs``, ``GLIDEIN_GridType``,
    ``EntryName``, ``GLIDEIN_In_Downtime``, ``GLIDEIN_GPUs``); the typed fields win over
    ``attrs``.
    """

    name: str
    site: str
    #: ``GLIDEIN_CPUS``: cores per glidein (the glidein size), at least 1.
    cpus: int = 1
    #: ``GLIDEIN_MaxMemMBs``: memory per glidein, MB.
    memory: int = 2500
    #: ``GLIDEIN_GridType``, e.g. ``condor``, ``batch slurm``, ``arc``.
    grid_type: str = "condor"
    #: ``GLIDEIN_In_Downtime``: an entry in downtime gets no glideins.
    in_downtime: bool = False
    attrs: Mapping[str, Any] = field(default_factory=dict)
    #: ``GLIDEIN_GPUs``: GPUs per glidein (0: the entry offers none).
    gpus: int = 0

    def classad_attrs(self) -> dict[str, Any]:
        """Return the attributes the match expression sees as ``glidein.<name>``."""
        out = dict(self.attrs)
        out.update(
            EntryName=self.name,
            GLIDEIN_Site=self.site,
            GLIDEIN_CPUS=self.cpus,
            GLIDEIN_MaxMemMBs=self.memory,
            GLIDEIN_GridType=self.grid_type,
            GLIDEIN_In_Downtime=self.in_downtime,
            GLIDEIN_GPUs=self.gpus,
        )
        return out


@dataclass(frozen=True, slots=True)
class Glidein:
    """One glidein registered in the user pool (its startd), summarised.

    For a partitionable slot, ``idle_cpus``/``idle_memory``/``idle_gpus`` are what the
    partitionable slot still offers and ``running_jobs`` counts its claimed dynamic slots.
    For a static slot, ``idle_cpus`` equals ``total_cpus`` when it is unclaimed and 0
    otherwise.
    """

    #: Startd name (``Name``), unique in the pool.
    name: str
    #: Entry that provided the glidein (``GLIDEIN_Entry_Name``).
    entry: str
    total_cpus: int
    idle_cpus: int
    total_memory: int
    idle_memory: int
    #: Jobs running on the glidein (claimed dynamic slots, or 1 for a busy static slot).
    running_jobs: int = 0
    partitionable: bool = True
    #: GPUs of the glidein (``TotalSlotGPUs``) and GPUs not yet claimed (``GPUs``).
    total_gpus: int = 0
    idle_gpus: int = 0


@dataclass(frozen=True, slots=True)
class EntryLimits:
    """Per-entry limits of a frontend group (GlideinWMS group ``config`` section).

    Defaults are GlideinWMS 3.x defaults.
    """

    #: ``running_glideins_per_entry/max``: most glideins at one entry.
    max_running: int = 10000
    #: ``running_glideins_per_entry/min``: keep at least this many glideins' worth of
    #: demand even with an empty queue.
    min_running: int = 0
    #: ``running_glideins_per_entry/relative_to_queue``: the queue-relative cap factor for
    #: ``ReqMaxGlideins``.
    relative_to_queue: float = 1.15
    #: ``idle_glideins_per_entry/max``: most idle glideins requested from one entry.
    max_idle: int = 100
    #: ``idle_glideins_per_entry/reserve``: extra idle glideins requested for old idle jobs.
    reserve_idle: int = 5
    #: ``idle_vms_per_entry/max``: stop requesting once this many glideins sit idle.
    max_idle_glideins: int = 100
    #: ``idle_vms_per_entry/curb``: halve the request once this many glideins sit idle.
    curb_idle_glideins: int = 5


@dataclass(frozen=True, slots=True)
class TotalLimits:
    """Limits on the sum over entries: group, frontend or global level.

    GlideinWMS ``running_glideins_total`` (``max_glideins``/``curb_glideins``) and
    ``idle_vms_total`` (``max_idle_glideins``/``curb_idle_glideins``) at the group level,
    and their frontend-wide and ``*_global`` counterparts.
    """

    max_glideins: int = 100000
    curb_glideins: int = 90000
    max_idle_glideins: int = 1000
    curb_idle_glideins: int = 200


class RemovalLevel(enum.IntEnum):
    """``ReqRemoveExcess`` values, ordered by how much they remove.

    ``WAIT``: glideins still waiting in the site queue beyond the request. ``IDLE``: all
    glideins still waiting in the site queue. ``ALL``: also started glideins, but only those
    the request lists as removable (registered and running no job) or that never
    registered; a glidein that runs a job is never removable.
    """

    NO = 0
    WAIT = 1
    IDLE = 2
    ALL = 3


@dataclass(frozen=True, slots=True)
class RemovalConfig:
    """Glidein removal policy (GlideinWMS group ``glideins_removal`` plus automatic triggers).

    ``type``/``wait``/``margin``/``requests_tracking`` are the configured removal; the
    ``auto_*`` thresholds are the automatic triggers (cycles), fixed numbers in GlideinWMS.
    ``disable`` turns every frontend-initiated removal off (GlideinWMS ``DISABLE``).
    """

    type: RemovalLevel = RemovalLevel.NO
    #: Cycles without idle jobs before the configured removal applies.
    wait: int = 0
    #: Ask the factory to follow the request closely (send the level with the margin).
    requests_tracking: bool = False
    margin: int = 0
    disable: bool = False
    #: Cycles with no idle job before ``WAIT`` is sent (GlideinWMS: more than 5).
    auto_wait_cycles: int = 5
    #: Cycles with every glidein idle (and ``WAIT`` due) before ``IDLE`` (more than 10).
    auto_idle_cycles: int = 10
    #: Cycles with no glidein registered (and ``WAIT`` due) before ``ALL`` (more than 10).
    auto_all_cycles: int = 10


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """Everything configurable that the decision for one frontend group reads."""

    entry: EntryLimits = field(default_factory=EntryLimits)
    #: Per-entry overrides of :attr:`entry`, by entry name.
    entry_overrides: Mapping[str, EntryLimits] = field(default_factory=dict)
    group: TotalLimits = field(default_factory=TotalLimits)
    frontend: TotalLimits = field(default_factory=TotalLimits)
    global_: TotalLimits = field(default_factory=TotalLimits)
    #: ``ramp_up_attenuation``: the idle request is divided by this (3 by default).
    ramp_up_attenuation: float = 3.0
    #: ``partitionable_glidein/min_memory``: idle cores of a partitionable glidein with less
    #: free memory than this (MB) are not usable.
    min_memory: int = 2500
    #: A job idle longer than this (seconds) is "old idle" and can earn reserve glideins.
    old_idle_age: int = 600
    removal: RemovalConfig = field(default_factory=RemovalConfig)
    #: ``ignore_down_entries``: leave entries in downtime out of matching, so that a job
    #: matching k entries of which some are down counts 1/(k - down) to the others.
    ignore_down_entries: bool = False

    def limits_for(self, entry: str) -> EntryLimits:
        """Return the entry limits that apply to ``entry``."""
        return self.entry_overrides.get(entry, self.entry)


@dataclass(frozen=True, slots=True)
class PoolCounts:
    """Glideins observed at a level above the group: total and usable idle."""

    total: int = 0
    idle: int = 0


@dataclass(frozen=True, slots=True)
class GlideinCounts:
    """Glideins of one entry in the user pool (GlideinWMS ``count_status``)."""

    #: Registered glideins (``GlideinsTotal``).
    total: int = 0
    #: Usable idle glideins (``GlideinsIdle``).
    idle: int = 0
    #: Glideins running at least one job (``GlideinsRunning``; GlideinWMS "real").
    running: int = 0
    total_cores: int = 0
    idle_cores: int = 0
    running_cores: int = 0
    total_gpus: int = 0
    idle_gpus: int = 0


@dataclass(frozen=True, slots=True)
class EntryHistory:
    """Per-entry cycle counters behind the automatic removal (GlideinWMS history)."""

    #: Consecutive cycles with no idle job matching the entry.
    no_idle_jobs: int = 0
    #: Consecutive cycles in which every registered glidein was idle.
    all_glideins_idle: int = 0
    #: Consecutive cycles with no glidein registered.
    no_glideins: int = 0


@dataclass(frozen=True, slots=True)
class Request:
    """The request for one entry, as advertised to the WMS collector.

    Field docstrings name the GlideinWMS request-ad attribute each one becomes.
    """

    entry: str
    #: ``ReqIdleGlideins``: idle glideins the factory should keep in the entry's queue.
    req_idle_glideins: int
    #: ``ReqMaxGlideins``: most glideins the factory should keep at the entry.
    req_max_glideins: int
    #: ``ReqRemoveExcess``: NO, WAIT, IDLE or ALL.
    req_remove_excess: RemovalLevel = RemovalLevel.NO
    #: ``ReqRemoveExcessMargin``.
    req_remove_excess_margin: int = 0
    #: Registered glideins running no job: the only started glideins ``ALL`` may remove.
    removable_glideins: tuple[str, ...] = ()
    #: Registered glideins running a job: never to be removed.
    busy_glideins: tuple[str, ...] = ()
    in_downtime: bool = False
    #: ``GlideinMonitor*`` figures: matched/proportional/effective idle jobs and so on.
    monitor: Mapping[str, float] = field(default_factory=dict)
    #: Limits and curbs that shaped the request (GlideinWMS ``limits_triggered``).
    limits_triggered: Mapping[str, str] = field(default_factory=dict)

    def classad_attrs(self) -> dict[str, Any]:
        """Return the request as GlideinWMS-named ClassAd attributes."""
        out: dict[str, Any] = {
            "ReqIdleGlideins": self.req_idle_glideins,
            "ReqMaxGlideins": self.req_max_glideins,
            "ReqRemoveExcess": self.req_remove_excess.name,
            "ReqRemoveExcessMargin": self.req_remove_excess_margin,
            "GlideinEntryInDowntime": self.in_downtime,
        }
        for key, value in self.monitor.items():
            out[f"GlideinMonitor{key}"] = value
        return out
