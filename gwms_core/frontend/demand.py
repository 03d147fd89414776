"""From idle jobs to glidein requests: grouping, proportional demand, limits and removal.

Pure functions over :mod:`gwms_core.frontend.model`; no I/O. The formulas, their defaults and
where they differ from GlideinWMS 3.x are documented in ``docs/frontend-decision.md``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .matchexpr import MISSING, MatchExpression, MatchResult, lookup_attr
from .model import (
    JOB_IDLE,
    JOB_RUNNING,
    Entry,
    EntryHistory,
    EntryLimits,
    Glidein,
    GlideinCounts,
    GroupConfig,
    Job,
    JobGroup,
    PoolCounts,
    RemovalConfig,
    RemovalLevel,
    Request,
    TotalLimits,
)

__all__ = [
    "Decision",
    "EntryDemand",
    "MatchReport",
    "choose_removal",
    "compute_req_idle",
    "compute_req_max",
    "count_glideins",
    "decide",
    "decide_from_matches",
    "group_jobs",
    "is_usable_idle",
    "match_groups",
    "proportional_demand",
]

_CPUS = "RequestCpus"
_MEMORY = "RequestMemory"
_GPUS = "RequestGPUs"


# --------------------------------------------------------------------------------------
# Grouping


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


def _as_count(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if not math.isfinite(value):
        return default
    return int(value)


def group_jobs(
    jobs: Iterable[Job],
    attrs: Sequence[str],
    *,
    now: int,
    old_idle_age: int = 600,
) -> list[JobGroup]:
    """Group idle and running jobs by the values of ``attrs`` plus cores, memory and GPUs.

    ``attrs`` is normally :attr:`MatchExpression.job_attrs`. Jobs in other states than idle
    (1) and running (2) are ignored. An idle job whose ``entered_status`` is more than
    ``old_idle_age`` seconds before ``now`` also counts as old idle.
    """
    names: list[str] = []
    seen: set[str] = set()
    for name in (*attrs, _CPUS, _MEMORY):
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    # Unless the expression reads it, RequestGPUs is read apart, by its exact name: most
    # jobs lack it, and a missing key would send them down the case-insensitive slow path.
    # Only a job asking for GPUs gets the longer key; the others' keys get a 0 at the end.
    gpus_apart = _GPUS.lower() not in seen
    n_names = len(names)
    key_names = (*names, _GPUS) if gpus_apart else tuple(names)
    getter = operator.itemgetter(*names)
    old_cut = now - old_idle_age
    counts: dict[tuple[Any, ...], list[int]] = {}
    originals: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # keys that had to be frozen
    for job in jobs:
        status = job.status
        if status != JOB_IDLE and status != JOB_RUNNING:
            continue
        job_attrs = job.attrs
        try:
            key = getter(job_attrs)
        except KeyError:
            key = tuple(lookup_attr(job_attrs, n) for n in names)
        if gpus_apart:
            gpus = job_attrs.get(_GPUS)
            if gpus:
                key = (*key, gpus)
        try:
            slot = counts.get(key)
        except TypeError:  # an unhashable value (a list or a nested ad)
            frozen = tuple(_freeze(v) for v in key)
            originals.setdefault(frozen, key)
            key = frozen
            slot = counts.get(key)
        if slot is None:
            slot = counts[key] = [0, 0, 0]
        if status == JOB_IDLE:
            slot[0] += 1
            if job.entered_status < old_cut:
                slot[1] += 1
        else:
            slot[2] += 1
    groups = []
    for key, (idle, old_idle, running) in counts.items():
        raw = originals.get(key, key)
        if gpus_apart and len(key) == n_names:
            key, raw = (*key, 0), (*raw, 0)
        values = {n: v for n, v in zip(key_names, raw, strict=True)
                  if v is not MISSING}
        groups.append(
            JobGroup(
                key=key,
                attrs=values,
                cpus=max(1, _as_count(lookup_attr(values, _CPUS), 1)),
                memory=max(0, _as_count(lookup_attr(values, _MEMORY), 0)),
                gpus=max(0, _as_count(lookup_attr(values, _GPUS), 0)),
                idle=idle,
                old_idle=old_idle,
                running=running,
            )
        )
    return groups


# --------------------------------------------------------------------------------------
# Glidein status


def is_usable_idle(glidein: Glidein, min_memory: int) -> bool:
    """Whether a glidein counts as idle: it can still start a job.

    A static slot is idle when it runs nothing. A partitionable slot is idle when it runs
    nothing (not yet partitioned), or when it still has at least one core and at least
    ``min_memory`` MB free: idle cores without enough memory are not usable. A glidein
    that has GPUs must also still have a free GPU: GPU glideins exist for GPU jobs, and
    cores left beside claimed GPUs are not counted as an idle glidein.
    """
    if glidein.running_jobs == 0:
        return True
    if not glidein.partitionable:
        return False
    if glidein.total_gpus > 0 and glidein.idle_gpus <= 0:
        return False
    return glidein.idle_cpus > 0 and glidein.idle_memory >= min_memory


def count_glideins(glideins: Iterable[Glidein], min_memory: int) -> dict[str, GlideinCounts]:
    """Count registered, usable idle and running glideins (their cores, GPUs) per entry."""
    acc: dict[str, list[int]] = {}
    for g in glideins:
        c = acc.get(g.entry)
        if c is None:
            c = acc[g.entry] = [0, 0, 0, 0, 0, 0, 0, 0]
        c[0] += 1
        c[3] += g.total_cpus
        c[6] += g.total_gpus
        if is_usable_idle(g, min_memory):
            c[1] += 1
            c[4] += g.idle_cpus
            c[7] += g.idle_gpus
        if g.running_jobs > 0:
            c[2] += 1
            c[5] += g.total_cpus - g.idle_cpus
    return {
        entry: GlideinCounts(
            total=c[0],
            idle=c[1],
            running=c[2],
            total_cores=c[3],
            idle_cores=c[4],
            running_cores=c[5],
            total_gpus=c[6],
            idle_gpus=c[7],
        )
        for entry, c in acc.items()
    }


# --------------------------------------------------------------------------------------
# Matching and proportional counting


def match_groups(
    match: MatchExpression,
    groups: Sequence[JobGroup],
    entries: Sequence[Entry],
) -> MatchResult:
    """Evaluate the match expression for every (job group, entry) pair."""
    return match.evaluate([g.attrs for g in groups], [e.classad_attrs() for e in entries])


@dataclass(frozen=True, slots=True)
class EntryDemand:
    """Idle jobs attributed to one entry (GlideinWMS ``count``/``prop``/``hereonly``)."""

    #: Idle jobs that match the entry, each counted once (``count``).
    matched_idle: int = 0
    #: Idle jobs, each matching k entries counting 1/k here (``prop``, before rounding).
    prop_idle: float = 0.0
    #: Cores of those jobs, same 1/k weighting.
    prop_cores: float = 0.0
    #: Old idle jobs' cores, same weighting.
    prop_old_cores: float = 0.0
    #: GPUs of those jobs, same weighting.
    prop_gpus: float = 0.0
    #: Idle jobs that match only this entry (``hereonly``).
    hereonly_idle: int = 0
    #: Glideins needed for the idle jobs: ``ceil(prop_cores / GLIDEIN_CPUS)``, or
    #: ``ceil(prop_gpus / GLIDEIN_GPUs)`` if more at an entry with GPUs.
    glideins: int = 0
    #: Glideins needed for the old idle jobs, the same way.
    old_glideins: int = 0


def _ceil(x: float) -> int:
    # Rounded first so that sums of 1/k shares that should be integers are.
    return math.ceil(round(x, 6))


def proportional_demand(
    matches: npt.NDArray[np.bool_],
    groups: Sequence[JobGroup],
    entries: Sequence[Entry],
) -> tuple[list[EntryDemand], int]:
    """Split each group's idle jobs evenly over the entries it matches.

    A job matching k entries counts 1/k to each; its cores count the same way and are
    turned into glideins with the entry's ``GLIDEIN_CPUS``; at an entry with GPUs
    (``GLIDEIN_GPUs`` > 0) its GPUs too, and the entry needs the larger number of glideins.
    Returns the demand per entry (in
    ``entries`` order) and the number of idle jobs that match no entry.
    """
    n_e = len(entries)
    idle = np.fromiter((g.idle for g in groups), np.float64, len(groups))
    old = np.fromiter((g.old_idle for g in groups), np.float64, len(groups))
    cpus = np.fromiter((g.cpus for g in groups), np.float64, len(groups))
    gpus = np.fromiter((g.gpus for g in groups), np.float64, len(groups))
    k = matches.sum(axis=1)
    unmatched = int(idle[k == 0].sum())
    rows, cols = np.nonzero(matches)
    share = idle[rows] / k[rows]
    old_share = old[rows] / k[rows]
    prop_idle = np.bincount(cols, share, n_e)
    prop_cores = np.bincount(cols, share * cpus[rows], n_e)
    prop_old_cores = np.bincount(cols, old_share * cpus[rows], n_e)
    prop_gpus = np.bincount(cols, share * gpus[rows], n_e)
    prop_old_gpus = np.bincount(cols, old_share * gpus[rows], n_e)
    matched = np.bincount(cols, idle[rows], n_e)
    only = k[rows] == 1
    hereonly = np.bincount(cols[only], idle[rows][only], n_e)
    out = []
    for e, entry in enumerate(entries):
        size = max(1, entry.cpus)
        pc, poc = float(prop_cores[e]), float(prop_old_cores[e])
        pg, pog = float(prop_gpus[e]), float(prop_old_gpus[e])
        need, old_need = _ceil(pc / size), _ceil(poc / size)
        if entry.gpus > 0:
            need = max(need, _ceil(pg / entry.gpus))
            old_need = max(old_need, _ceil(pog / entry.gpus))
        out.append(
            EntryDemand(
                matched_idle=int(matched[e]),
                prop_idle=float(prop_idle[e]),
                prop_cores=pc,
                prop_old_cores=poc,
                prop_gpus=pg,
                hereonly_idle=int(hereonly[e]),
                glideins=need,
                old_glideins=old_need,
            )
        )
    return out, unmatched


# --------------------------------------------------------------------------------------
# Limits


def compute_req_idle(
    limits: EntryLimits,
    config: GroupConfig,
    counts: GlideinCounts,
    group: PoolCounts,
    frontend: PoolCounts,
    global_: PoolCounts,
    effective_idle: int,
    effective_old_idle: int,
) -> tuple[int, dict[str, str]]:
    """``ReqIdleGlideins`` for one entry, and the limits and curbs that shaped it.

    1. If any limit is reached (glideins or idle glideins, at entry, group, frontend or
       global level), request 0.
    2. Otherwise, with demand (``effective_idle > 0``): take the demand, capped by the
       headroom left under every limit; divide by ``ramp_up_attenuation`` (floor); add the
       reserve ``min(effective_old_idle // 3, reserve_idle)``; cap at ``max_idle`` and at the
       headroom; halve once for each curb reached; at least 1.
    3. Without demand, 0.
    """
    triggered: dict[str, str] = {}
    hard = _hard_limits(limits, config, counts, group, frontend, global_)
    for name, count, limit in hard:
        if count >= limit:
            triggered[name] = f"count={count}, limit={limit}"
    if triggered or effective_idle <= 0 or limits.max_idle <= 0:
        return 0, triggered
    headroom = min(limit - count for _, count, limit in hard)
    req = min(effective_idle, headroom)
    req = int(req / max(config.ramp_up_attenuation, 1.0))
    req += min(effective_old_idle // 3, limits.reserve_idle)
    value: float = min(req, limits.max_idle, headroom)
    for name, count, curb in _curbs(limits, config, counts, group, frontend, global_):
        if count >= curb:
            value /= 2
            triggered[name] = f"count={count}, curb={curb}"
    return max(int(value), 1), triggered


def _hard_limits(
    limits: EntryLimits,
    config: GroupConfig,
    counts: GlideinCounts,
    group: PoolCounts,
    frontend: PoolCounts,
    global_: PoolCounts,
) -> list[tuple[str, int, int]]:
    out = [
        ("TotalGlideinsPerEntry", counts.total, limits.max_running),
        ("IdleGlideinsPerEntry", counts.idle, limits.max_idle_glideins),
    ]
    levels: tuple[tuple[str, PoolCounts, TotalLimits], ...] = (
        ("PerGroup", group, config.group),
        ("PerFrontend", frontend, config.frontend),
        ("Global", global_, config.global_),
    )
    for suffix, seen, lim in levels:
        out.append((f"TotalGlideins{suffix}", seen.total, lim.max_glideins))
        out.append((f"IdleGlideins{suffix}", seen.idle, lim.max_idle_glideins))
    return out


def _curbs(
    limits: EntryLimits,
    config: GroupConfig,
    counts: GlideinCounts,
    group: PoolCounts,
    frontend: PoolCounts,
    global_: PoolCounts,
) -> list[tuple[str, int, int]]:
    out = [("CurbIdleGlideinsPerEntry", counts.idle, limits.curb_idle_glideins)]
    levels: tuple[tuple[str, PoolCounts, TotalLimits], ...] = (
        ("PerGroup", group, config.group),
        ("PerFrontend", frontend, config.frontend),
        ("Global", global_, config.global_),
    )
    for suffix, seen, lim in levels:
        out.append((f"CurbTotalGlideins{suffix}", seen.total, lim.curb_glideins))
        out.append((f"CurbIdleGlideins{suffix}", seen.idle, lim.curb_idle_glideins))
    return out


def compute_req_max(limits: EntryLimits, demand_glideins: int, counts: GlideinCounts) -> int:
    """``ReqMaxGlideins`` for one entry: the queue-relative cap.

    With idle demand: ``int((max(demand - idle glideins, 0) + running glideins) *
    relative_to_queue + 1)``; without idle demand: the running glideins (no margin when
    nothing more is needed); never above ``max_running``.
    """
    if demand_glideins > 0:
        wanted = int(
            (max(demand_glideins - counts.idle, 0) + counts.running) * limits.relative_to_queue + 1
        )
    else:
        wanted = counts.running
    return max(0, min(wanted, limits.max_running))


# --------------------------------------------------------------------------------------
# Removal


def choose_removal(
    config: RemovalConfig,
    history: EntryHistory,
    matched_idle: int,
    counts: GlideinCounts,
) -> tuple[RemovalLevel, int, EntryHistory]:
    """Pick ``ReqRemoveExcess`` and its margin for one entry; return the updated history.

    Automatic: after more than ``auto_wait_cycles`` cycles with no idle job, WAIT; if also
    every glidein has been idle for more than ``auto_idle_cycles`` cycles, IDLE; if no
    glidein has been registered for more than ``auto_all_cycles`` cycles, ALL. Configured:
    ``config.type`` once there has been no idle job for more than ``config.wait`` cycles (at
    once with ``requests_tracking``). The higher of the two wins; ``disable`` gives NO.

    ``ALL`` lets the factory remove started glideins, and the factory cannot tell which
    of them run jobs; so while any glidein of the entry runs a job, ``ALL`` is lowered to
    ``IDLE`` (which removes only glideins still waiting in the site queue).
    """
    no_idle = history.no_idle_jobs + 1 if matched_idle == 0 else 0
    all_idle = history.all_glideins_idle + 1 if counts.idle >= counts.total else 0
    none = history.no_glideins + 1 if counts.total == 0 else 0
    new_history = EntryHistory(no_idle_jobs=no_idle, all_glideins_idle=all_idle, no_glideins=none)
    if config.disable:
        return RemovalLevel.NO, 0, new_history
    wait_due = no_idle > config.auto_wait_cycles
    if wait_due and none > config.auto_all_cycles:
        auto = RemovalLevel.ALL
    elif wait_due and all_idle > config.auto_idle_cycles:
        auto = RemovalLevel.IDLE
    elif wait_due:
        auto = RemovalLevel.WAIT
    else:
        auto = RemovalLevel.NO
    configured = RemovalLevel.NO
    if config.type is not RemovalLevel.NO and (config.requests_tracking or no_idle > config.wait):
        configured = config.type
    if auto > configured:
        return _spare_busy(auto, counts), 0, new_history
    margin = config.margin if configured is not RemovalLevel.NO and config.requests_tracking else 0
    return _spare_busy(configured, counts), max(0, margin), new_history


def _spare_busy(level: RemovalLevel, counts: GlideinCounts) -> RemovalLevel:
    if level is RemovalLevel.ALL and counts.running > 0:
        return RemovalLevel.IDLE
    return level


# --------------------------------------------------------------------------------------
# The decision


@dataclass(frozen=True, slots=True)
class MatchReport:
    """What the cycle reports once about matching (log it once per cycle)."""

    expression: str
    pairs: int
    classad_pairs: int
    undefined_pairs: int
    error_pairs: int
    unmatched_idle_jobs: int

    def problem(self) -> str | None:
        """One log line about pairs that evaluated to UNDEFINED or ERROR, or None if none."""
        if not (self.undefined_pairs or self.error_pairs):
            return None
        return (
            f"match expression {self.expression!r}: {self.error_pairs} (job group, entry) "
            f"pairs evaluated to ERROR and {self.undefined_pairs} to UNDEFINED out of "
            f"{self.pairs}; counted as no match"
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """Requests for every entry, the removal history to carry to the next cycle, a report."""

    requests: tuple[Request, ...]
    history: Mapping[str, EntryHistory]
    report: MatchReport
    demand: tuple[EntryDemand, ...] = field(default=())


def decide(
    groups: Sequence[JobGroup],
    entries: Sequence[Entry],
    glideins: Iterable[Glidein],
    match: MatchExpression,
    config: GroupConfig | None = None,
    *,
    frontend_counts: PoolCounts | None = None,
    global_counts: PoolCounts | None = None,
    history: Mapping[str, EntryHistory] | None = None,
) -> Decision:
    """Match ``groups`` against ``entries`` and compute one :class:`Request` per entry."""
    cfg = config or GroupConfig()
    usable = [e for e in entries if not (cfg.ignore_down_entries and e.in_downtime)]
    result = match_groups(match, groups, usable)
    return decide_from_matches(
        groups,
        entries,
        result,
        glideins,
        cfg,
        matched_entries=usable,
        expression=match.text,
        frontend_counts=frontend_counts,
        global_counts=global_counts,
        history=history,
    )


def decide_from_matches(
    groups: Sequence[JobGroup],
    entries: Sequence[Entry],
    result: MatchResult,
    glideins: Iterable[Glidein],
    config: GroupConfig | None = None,
    *,
    matched_entries: Sequence[Entry] | None = None,
    expression: str = "",
    frontend_counts: PoolCounts | None = None,
    global_counts: PoolCounts | None = None,
    history: Mapping[str, EntryHistory] | None = None,
) -> Decision:
    """Compute the requests from an already evaluated match (see :func:`match_groups`).

    ``matched_entries`` are the columns of ``result`` (default: ``entries``); entries not
    among them (in downtime, with ``ignore_down_entries``) get no demand. The frontend and
    global counts default to the group's own (a frontend with one group, alone in its pool).
    """
    cfg = config or GroupConfig()
    columns = list(matched_entries) if matched_entries is not None else list(entries)
    demand_list, unmatched = proportional_demand(result.matches, groups, columns)
    by_name = {e.name: d for e, d in zip(columns, demand_list, strict=True)}
    glidein_list = list(glideins)
    counts = count_glideins(glidein_list, cfg.min_memory)
    per_entry_names: dict[str, tuple[list[str], list[str]]] = {}
    for g in glidein_list:
        busy, free = per_entry_names.setdefault(g.entry, ([], []))
        (busy if g.running_jobs > 0 else free).append(g.name)
    group_counts = PoolCounts(
        total=sum(c.total for c in counts.values()), idle=sum(c.idle for c in counts.values())
    )
    fe_counts = frontend_counts or group_counts
    gl_counts = global_counts or fe_counts
    old_history = history or {}
    new_history: dict[str, EntryHistory] = {}
    requests = []
    empty = GlideinCounts()
    no_demand = EntryDemand()
    for entry in entries:
        limits = cfg.limits_for(entry.name)
        c = counts.get(entry.name, empty)
        d = by_name.get(entry.name, no_demand)
        need = max(d.glideins, limits.min_running)
        effective = max(need - c.idle, 0)
        effective_old = max(d.old_glideins - c.idle, 0)
        level, margin, entry_history = choose_removal(
            cfg.removal, old_history.get(entry.name, EntryHistory()), d.matched_idle, c
        )
        new_history[entry.name] = entry_history
        triggered: dict[str, str] = {}
        if entry.in_downtime:
            req_idle, req_max = 0, 0
        else:
            req_idle, triggered = compute_req_idle(
                limits, cfg, c, group_counts, fe_counts, gl_counts, effective, effective_old
            )
            req_max = compute_req_max(limits, need, c)
        busy, free = per_entry_names.get(entry.name, ([], []))
        all_level = level is RemovalLevel.ALL
        requests.append(
            Request(
                entry=entry.name,
                req_idle_glideins=req_idle,
                req_max_glideins=req_max,
                req_remove_excess=level,
                req_remove_excess_margin=margin,
                removable_glideins=tuple(free) if all_level else (),
                busy_glideins=tuple(busy) if all_level else (),
                in_downtime=entry.in_downtime,
                monitor={
                    "Idle": _ceil(d.prop_idle),
                    "MatchedIdle": d.matched_idle,
                    "EffectiveIdle": effective,
                    "OldIdle": d.old_glideins,
                    "IdleHereOnly": d.hereonly_idle,
                    "IdleCores": _ceil(d.prop_cores),
                    "IdleGPUs": _ceil(d.prop_gpus),
                    "RunningHere": c.running,
                    "GlideinsTotal": c.total,
                    "GlideinsIdle": c.idle,
                    "GlideinsRunning": c.running,
                    "GlideinsTotalCores": c.total_cores,
                    "GlideinsIdleCores": c.idle_cores,
                    "GlideinsRunningCores": c.running_cores,
                    "GlideinsTotalGPUs": c.total_gpus,
                    "GlideinsIdleGPUs": c.idle_gpus,
                    "CyclesWithoutIdleJobs": entry_history.no_idle_jobs,
                },
                limits_triggered=triggered,
            )
        )
    report = MatchReport(
        expression=expression,
        pairs=int(result.codes.size),
        classad_pairs=result.classad_pairs,
        undefined_pairs=result.undefined_pairs,
        error_pairs=result.error_pairs,
        unmatched_idle_jobs=unmatched,
    )
    return Decision(tuple(requests), new_history, report, tuple(demand_list))
