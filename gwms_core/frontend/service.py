"""The frontend service: one cycle reads the pools and the WMS collector, decides, advertises.

The decision is :func:`gwms_core.frontend.decide` (pure). This module is the edge:

* :class:`Pools` reads schedds, jobs and glideins with ``htcondor2``;
* :class:`Wms` reads the factories' entry ads and advertises request ads;
* :func:`request_ads` (pure) turns a decision into ``glideclient`` ads with GlideinWMS
  attribute names (``ReqIdleGlideins``, ``ReqMaxGlideins``, ``ReqRemoveExcess``, ...);
* :class:`Frontend` runs cycles and keeps the last known good requests when a pool or
  the WMS collector cannot be read.

Attribute names shared with the factory come from :mod:`gwms_core.factory.attrs`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gwms_core.factory import attrs as A
from gwms_core.frontend.demand import Decision, decide, group_jobs
from gwms_core.frontend.model import (
    JOB_IDLE,
    JOB_RUNNING,
    Entry,
    EntryHistory,
    Glidein,
    Job,
    PoolCounts,
    Request,
)
from gwms_core.frontend.settings import FrontendSettings, GroupSettings, UserPool

log = logging.getLogger("gwms.frontend")

#: Schedd attributes read to leave overloaded schedds out of idle counts.
SCHEDD_ATTRS = ("Name", "MaxJobsRunning", "TotalRunningJobs", "CurbMatchmaking",
                "TransferQueueNumWaitingToUpload", "TransferQueueMaxUploading")
#: Job attributes always read, besides what the match expressions read.
JOB_BASE_ATTRS = ("ClusterId", "ProcId", "JobStatus", "EnteredCurrentStatus",
                  "RequestCpus", "RequestMemory", "RequestGPUs", "RemoteHost")
#: Startd attributes read from glideins in the user pool.
GLIDEIN_ATTRS = ("Name", "GLIDEIN_Entry_Name", "GLIDEIN_Factory", "GLIDEIN_Client",
                 "SlotType", "PartitionableSlot", "Cpus", "Memory", "TotalSlotCpus",
                 "TotalSlotMemory", "GPUs", "TotalSlotGPUs", "State", "Activity",
                 "GLIDECLIENT_Group", "DaemonStartTime", A.GLIDEIN_SCHEDD, A.GLIDEIN_CLUSTER,
                 A.GLIDEIN_PROC, A.GLIDEIN_CREDENTIAL)
#: A schedd at or above this fraction of MaxJobsRunning is overloaded.
OVERLOAD_FRACTION = 0.95


# --------------------------------------------------------------------------- pure parts


def schedd_overload(ad: Mapping[str, Any]) -> str | None:
    """Why a schedd should be left out of idle counts, or None (pure)."""
    if ad.get("CurbMatchmaking") is True:
        return "CurbMatchmaking is true"
    max_running = ad.get("MaxJobsRunning")
    running = ad.get("TotalRunningJobs")
    if isinstance(max_running, int) and isinstance(running, int) and max_running > 0 \
            and running >= OVERLOAD_FRACTION * max_running:
        return f"{running} running jobs of MaxJobsRunning {max_running}"
    waiting = ad.get("TransferQueueNumWaitingToUpload")
    limit = ad.get("TransferQueueMaxUploading")
    if isinstance(waiting, int) and isinstance(limit, int) and limit > 0 and waiting >= limit:
        return f"transfer queue full ({waiting} waiting to upload, limit {limit})"
    return None


def entry_from_ad(ad: Mapping[str, Any]) -> Entry:
    """A factory entry ad (``glidefactory``) as the frontend's :class:`Entry`."""
    return Entry(
        name=str(ad["Name"]),
        site=str(ad.get("GLIDEIN_Site", "")),
        cpus=int(ad.get("GLIDEIN_CPUS", 1) or 1),
        memory=int(ad.get("GLIDEIN_MaxMemMBs", 2500) or 2500),
        grid_type=str(ad.get("GLIDEIN_GridType", "condor")),
        in_downtime=bool(ad.get("GLIDEIN_In_Downtime", False)),
        gpus=int(ad.get("GLIDEIN_GPUs", 0) or 0),
        attrs={k: v for k, v in ad.items() if isinstance(v, str | int | float | bool)},
    )


def glideins_from_ads(ads: Iterable[Mapping[str, Any]],
                      entry_names: Mapping[tuple[str, str], str]) -> list[Glidein]:
    """Summarise startd slot ads per glidein (startd), mapped to frontend entry names.

    ``entry_names`` maps (factory, short entry name) to the entry ad's full name. A
    partitionable slot gives the glidein's total and idle resources; each dynamic slot
    counts as one running job; a static slot is idle when Unclaimed.
    """
    out: dict[str, dict[str, Any]] = {}
    for ad in ads:
        name = str(ad.get("Name", ""))
        startd = name.split("@", 1)[1] if "@" in name else name
        key = (str(ad.get("GLIDEIN_Factory", "")), str(ad.get("GLIDEIN_Entry_Name", "")))
        entry = entry_names.get(key) or key[1]
        g = out.setdefault(startd, {"entry": entry, "total_cpus": 0, "idle_cpus": 0,
                                    "total_memory": 0, "idle_memory": 0, "running": 0,
                                    "partitionable": False, "total_gpus": 0, "idle_gpus": 0})
        slot_type = ad.get("SlotType", "")
        cpus, mem = int(ad.get("Cpus", 0) or 0), int(ad.get("Memory", 0) or 0)
        gpus = _int_or(ad.get("GPUs"), 0)
        if ad.get("PartitionableSlot") is True or slot_type == "Partitionable":
            g["partitionable"] = True
            g["total_cpus"] += int(ad.get("TotalSlotCpus", cpus) or cpus)
            g["total_memory"] += int(ad.get("TotalSlotMemory", mem) or mem)
            g["total_gpus"] += _int_or(ad.get("TotalSlotGPUs"), gpus)
            g["idle_cpus"] += cpus
            g["idle_memory"] += mem
            g["idle_gpus"] += gpus
        elif slot_type == "Dynamic":
            g["running"] += 1
        else:
            g["total_cpus"] += cpus
            g["total_memory"] += mem
            g["total_gpus"] += gpus
            if ad.get("State") == "Unclaimed":
                g["idle_cpus"] += cpus
                g["idle_memory"] += mem
                g["idle_gpus"] += gpus
            else:
                g["running"] += 1
    return [Glidein(name=n, entry=g["entry"], total_cpus=g["total_cpus"],
                    idle_cpus=g["idle_cpus"], total_memory=g["total_memory"],
                    idle_memory=g["idle_memory"], running_jobs=g["running"],
                    partitionable=g["partitionable"], total_gpus=g["total_gpus"],
                    idle_gpus=g["idle_gpus"]) for n, g in sorted(out.items())]


def _int_or(value: Any, default: int) -> int:
    """An integer attribute (``GPUs`` is undefined on machines without GPUs)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def busy_startds(jobs: Iterable[Job]) -> set[str]:
    """Startds (glideins) that run one of ``jobs``, from the running jobs' ``RemoteHost``
    (``slot1_1@glidein@host`` runs on the startd ``glidein@host``) (pure)."""
    out = set()
    for job in jobs:
        if job.status != JOB_RUNNING:
            continue
        host = job.attrs.get("RemoteHost")
        if isinstance(host, str) and "@" in host:
            out.add(host.split("@", 1)[1])
    return out


def mark_busy(glideins: Sequence[Glidein], busy: set[str]) -> list[Glidein]:
    """The glideins, each one named in ``busy`` counted as running at least one job (pure).

    The schedd knows a job runs before the startd's next update tells the collector; a
    glidein the collector still shows unclaimed must not be offered for removal then.
    """
    return [replace(g, running_jobs=1) if g.running_jobs == 0 and g.name in busy else g
            for g in glideins]


def client_name(frontend: str, group: str) -> str:
    """GlideinWMS client name: ``frontend.group``."""
    return f"{frontend}.{group}"


def request_ads(settings: FrontendSettings, group: GroupSettings, decision: Decision,
                entries: Mapping[str, Entry], pool_collector: str,
                params: Callable[[Entry], Mapping[str, str]] | None = None,
                ) -> list[dict[str, Any]]:
    """``glideclient`` ads for one group's decision: one per (entry, credential).

    The credentials of an entry come from ``params.per_credential(entry)`` when ``params``
    has it (:class:`gwms_core.frontend.credentials.CredentialParams`); the entry's request
    is shared between them by weight (:func:`gwms_core.frontend.credsplit.split_request`)
    and each ad carries ``GlideinCredentialIdentifier``, only that credential's
    parameters, and ``Name`` ``<entry>@<client>@<credential id>``. Without credentials
    (no ``params``, a plain callable, or no credential fits the entry) there is one ad
    with the default id (:data:`gwms_core.factory.attrs.DEFAULT_CREDENTIAL`).
    """
    from gwms_core.frontend.credsplit import split_request

    client = client_name(settings.name, group.name)
    ads = []
    for whole in decision.requests:
        entry = entries[whole.entry]
        creds = _entry_credentials(params, entry)
        shares = split_request(whole, [w for _, w, _ in creds])
        for (cred_id, _, cred_params), req in zip(creds, shares, strict=True):
            ads.append(_request_ad(settings, group, client, req, pool_collector, cred_id,
                                   cred_params))
    return ads


def _entry_credentials(params: Callable[[Entry], Mapping[str, str]] | None,
                       entry: Entry) -> list[tuple[str, int, Mapping[str, str]]]:
    """(credential id, weight, ad parameters) for each credential serving ``entry``."""
    per = getattr(params, "per_credential", None)
    if per is not None:
        items = per(entry)
        if items:
            return [(i.credential_id, i.weight, i.params) for i in items]
        return [(A.DEFAULT_CREDENTIAL, 1, {})]
    return [(A.DEFAULT_CREDENTIAL, 1, params(entry) if params is not None else {})]


def _request_ad(settings: FrontendSettings, group: GroupSettings, client: str,
                req: Request, pool_collector: str, cred_id: str,
                cred_params: Mapping[str, str]) -> dict[str, Any]:
    """One ``glideclient`` ad: ``req`` (already this credential's share) for ``cred_id``."""
    ad: dict[str, Any] = {
        "MyType": A.REQUEST_MYTYPE,
        "Name": f"{req.entry}@{client}@{cred_id}",
        A.CREDENTIAL: cred_id,
        A.REQ_NAME: req.entry,
        A.REQ_GLIDEIN: req.entry,
        A.CLIENT_NAME: client,
        A.FRONTEND_NAME: settings.name,
        A.GROUP_NAME: group.name,
        f"{A.PARAM_PREFIX}GLIDEIN_Collector": pool_collector,
        f"{A.PARAM_PREFIX}GLIDECLIENT_Group_Start": group.start_expr,
    }
    ad.update(req.classad_attrs())
    ad.update({f"{A.PARAM_PREFIX}{k}": v for k, v in settings.container_params.items()})
    ad.update(cred_params)
    return ad


def add_in_pool(ad: dict[str, Any], startd_ads: Sequence[Mapping[str, Any]],
                entry_ads: Sequence[Mapping[str, Any]], settings: FrontendSettings,
                now: float) -> None:
    """Add ``GlideinsInPool`` (and ``GlideinsInPoolDropped`` when the cap cut the list)
    to one request ad, from the user pool's startd ads (pure;
    :func:`gwms_core.frontend.inpool.select_in_pool`). Nothing when the cap is 0 or the
    ad's entry is not among ``entry_ads``."""
    from gwms_core.frontend.inpool import InPoolKey, select_in_pool

    if settings.in_pool_max <= 0:
        return
    entry = next((e for e in entry_ads if e.get("Name") == ad.get(A.REQ_NAME)), None)
    if entry is None:
        return
    key = InPoolKey(factory=str(entry.get("FactoryName", "")),
                    entry=str(entry.get("EntryName", "")),
                    frontend=settings.name, group=str(ad.get(A.GROUP_NAME, "")),
                    credential=str(ad.get(A.CREDENTIAL, A.DEFAULT_CREDENTIAL)))
    found = select_in_pool(startd_ads, key, now, settings.in_pool_window_s,
                           settings.in_pool_max)
    ad[A.IN_POOL] = found.value
    if found.dropped:
        ad[A.IN_POOL_DROPPED] = found.dropped


# --------------------------------------------------------------------------- edges


class PoolReader(Protocol):
    """Reads one user pool (schedds, jobs, glideins)."""

    def schedds(self, pool: UserPool) -> list[Mapping[str, Any]]: ...
    def jobs(self, schedd_ad: Mapping[str, Any], constraint: str,
             projection: Sequence[str]) -> list[Mapping[str, Any]]: ...
    def glideins(self, pool: UserPool) -> list[Mapping[str, Any]]: ...


class WmsClient(Protocol):
    """Reads entry ads from and advertises request ads to the WMS collector."""

    def entries(self) -> list[Mapping[str, Any]]: ...
    def advertise(self, ads: Sequence[Mapping[str, Any]]) -> None: ...


def _ad_dict(ad: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ad:
        value = ad.eval(key) if hasattr(ad, "eval") else ad[key]
        if type(value).__name__ == "ClassAd":
            value = _ad_dict(value)
        out[key] = value
    return out


class HTCondorPools:
    """:class:`PoolReader` over ``htcondor2``."""

    def schedds(self, pool: UserPool) -> list[Mapping[str, Any]]:
        import htcondor2

        coll = htcondor2.Collector(pool.collector)
        constraint = "true"
        if pool.schedds:
            names = " || ".join(f'Name == "{n}"' for n in pool.schedds)
            constraint = f"({names})"
        ads = coll.query(htcondor2.AdType.Schedd, constraint=constraint)
        return [dict(_ad_dict(a), _ad=a) for a in ads]

    def jobs(self, schedd_ad: Mapping[str, Any], constraint: str,
             projection: Sequence[str]) -> list[Mapping[str, Any]]:
        import htcondor2

        schedd = htcondor2.Schedd(schedd_ad["_ad"])
        return [_ad_dict(a) for a in schedd.query(constraint=constraint,
                                                  projection=list(projection))]

    def glideins(self, pool: UserPool) -> list[Mapping[str, Any]]:
        import htcondor2

        coll = htcondor2.Collector(pool.collector)
        ads = coll.query(htcondor2.AdType.Startd,
                         constraint="!isUndefined(GLIDEIN_Entry_Name)",
                         projection=list(GLIDEIN_ATTRS))
        return [_ad_dict(a) for a in ads]


class HTCondorWms:
    """:class:`WmsClient` over ``htcondor2``.

    Request ads carry ``ClassAdLifetime = lifetime_s`` when it is given (the collector drops
    ads of a frontend that stopped advertising); :meth:`withdraw` invalidates them at once.
    """

    def __init__(self, collector: str, lifetime_s: int | None = None) -> None:
        self.collector = collector
        self.lifetime_s = lifetime_s

    def entries(self) -> list[Mapping[str, Any]]:
        import htcondor2

        coll = htcondor2.Collector(self.collector)
        # Generic ads are returned for AdType.Any, not AdType.Generic (HTCondor 23.9).
        ads = coll.query(htcondor2.AdType.Any,
                         constraint=f'MyType == "{A.ENTRY_MYTYPE}"')
        return [_ad_dict(a) for a in ads]

    def advertise(self, ads: Sequence[Mapping[str, Any]]) -> None:
        import classad2
        import htcondor2

        if not ads:
            return
        coll = htcondor2.Collector(self.collector)
        out = []
        for ad in ads:
            c = classad2.ClassAd()
            for key, value in ad.items():
                c[key] = value
            if self.lifetime_s is not None:
                c["ClassAdLifetime"] = int(self.lifetime_s)
            out.append(c)
        coll.advertise(out, "UPDATE_AD_GENERIC")

    def withdraw(self, names: Sequence[str]) -> None:
        """Invalidate this frontend's request ads named ``names`` (``INVALIDATE_ADS_GENERIC``)."""
        import classad2
        import htcondor2

        if not names:
            return
        out = []
        for name in names:
            q = classad2.ClassAd({"MyType": "Query", "TargetType": A.REQUEST_MYTYPE})
            q["Requirements"] = classad2.ExprTree(f"Name == {classad2.quote(name)}")
            out.append(q)
        htcondor2.Collector(self.collector).advertise(out, "INVALIDATE_ADS_GENERIC")


# --------------------------------------------------------------------------- the loop


#: Request ad attribute: when the cycle that made the ad started (seconds since the epoch).
CYCLE_STARTED = "GwmsCycleStarted"

#: Reasons a cycle reports a problem (the ``reason`` label of the errors metric).
ERROR_REASONS = ("wms_collector", "user_pool", "schedd", "schedd_overloaded", "match_error",
                 "match_undefined", "advertise", "state_file", "container_conflict")


def container_conflicts(entries: Iterable[Entry], vo_policy: str) -> dict[str, str]:
    """Entries whose container policy (``GLIDEIN_SINGULARITY_REQUIRE`` in the entry ad)
    cannot be combined with the VO's (pure): ``{entry name: why}``. A glidein there would
    fail validation, so the frontend asks for none. An entry without the attribute is
    ``optional``; an unknown word is a conflict too.
    """
    from gwms_core.containers import PARAM_ENTRY_POLICY, Mode, combine

    out = {}
    for entry in entries:
        raw = entry.attrs.get(PARAM_ENTRY_POLICY)
        word = "optional" if raw is None else str(raw).lower()
        try:
            mode = combine(vo_policy, word)
        except ValueError as exc:
            out[entry.name] = str(exc)
            continue
        if mode is Mode.CONFLICT:
            out[entry.name] = (f"container policy: VO {vo_policy!r} and entry {word!r} "
                               "cannot be combined")
    return out


@dataclass
class GroupJobs:
    """Jobs of one group in one cycle (all pools): idle, running, idle matching no entry."""

    idle: int = 0
    running: int = 0
    unmatched_idle: int = 0


@dataclass
class CycleResult:
    """What one cycle saw and did, for logs, ``gwms frontend status`` and metrics."""

    started: float
    entries: int = 0
    jobs_idle: int = 0
    jobs_running: int = 0
    ads: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kept_last_good: bool = False
    #: Problems by reason (one of :data:`ERROR_REASONS`).
    errors: dict[str, int] = field(default_factory=dict)
    #: Jobs per group.
    groups: dict[str, GroupJobs] = field(default_factory=dict)
    #: Seconds the cycle took.
    duration: float = 0.0

    def problem(self, reason: str, message: str) -> None:
        """Record a problem (logged by the caller) under ``reason``."""
        self.problems.append(message)
        self.errors[reason] = self.errors.get(reason, 0) + 1


@dataclass
class Frontend:
    """Runs frontend cycles. Holds only the removal history and the last good ads.

    With ``state_path`` the removal history is read from that file by :meth:`load_state`
    and written after every cycle (:mod:`gwms_core.frontend.state`).
    """

    settings: FrontendSettings
    pools: PoolReader
    wms: WmsClient
    params: Callable[[Entry], Mapping[str, str]] | None = None
    history: dict[str, dict[str, EntryHistory]] = field(default_factory=dict)
    last_good: list[dict[str, Any]] = field(default_factory=list)
    state_path: str | None = None
    #: Cycles run by this process.
    cycles: int = 0
    #: Whether ads with the names of older versions were withdrawn (once per process).
    legacy_withdrawn: bool = False

    def load_state(self) -> str | None:
        """Read the removal history from ``state_path``; return a problem to log, or None."""
        if not self.state_path:
            return None
        from gwms_core.frontend.state import load_history

        self.history, problem = load_history(self.state_path)
        return problem

    def cycle(self, now: float | None = None) -> CycleResult:
        """One cycle; never raises for an unreachable schedd or collector."""
        t0 = time.monotonic()
        now = time.time() if now is None else now
        self.cycles += 1
        result = self._cycle(now)
        if self.state_path:
            from gwms_core.frontend.state import save_history

            try:
                save_history(self.state_path, self.history, now)
            except OSError as exc:
                result.problem("state_file", f"state file {self.state_path}: {exc.strerror}")
        result.duration = time.monotonic() - t0
        return result

    def _cycle(self, now: float) -> CycleResult:
        result = CycleResult(started=now)
        try:
            entry_ads = self.wms.entries()
        except Exception as exc:
            result.problem("wms_collector", f"WMS collector {self.settings.wms_collector}: {exc}")
            return self._keep_last_good(result)
        entries = [entry_from_ad(ad) for ad in entry_ads]
        conflicts = container_conflicts(entries, self.settings.container_policy)
        for name, why in sorted(conflicts.items()):
            result.problem("container_conflict", f"entry {name}: no glideins asked: {why}")
        entries = [e for e in entries if e.name not in conflicts]
        by_name = {e.name: e for e in entries}
        short = {(str(ad.get("FactoryName", "")), str(ad.get("EntryName", ""))): str(ad["Name"])
                 for ad in entry_ads}
        result.entries = len(entries)
        ads: list[dict[str, Any]] = []
        pools_ok = True
        for pool in self.settings.user_pools:
            try:
                schedds = self.pools.schedds(pool)
                glidein_ads = self.pools.glideins(pool)
            except Exception as exc:
                result.problem("user_pool", f"user pool {pool.collector}: {exc}")
                pools_ok = False
                continue
            # Jobs are read after the glideins: a job that started since the glidein query
            # marks its glidein busy even before the startd's next update says so.
            group_jobs_read = [(group, self._jobs(pool, schedds, group, result))
                               for group in self.settings.groups]
            glideins = mark_busy(glideins_from_ads(glidein_ads, short),
                                 busy_startds(j for _, js in group_jobs_read for j in js))
            all_total = len(glideins)
            all_idle = sum(1 for g in glideins if g.running_jobs == 0)
            for group, jobs in group_jobs_read:
                groups = group_jobs(jobs, group.match.job_attrs, now=int(now),
                                    old_idle_age=group.config.old_idle_age)
                counted = result.groups.setdefault(group.name, GroupJobs())
                counted.idle += sum(g.idle for g in groups)
                counted.running += sum(g.running for g in groups)
                decision = decide(
                    groups, entries, glideins, group.match, group.config,
                    frontend_counts=PoolCounts(all_total, all_idle),
                    global_counts=PoolCounts(all_total, all_idle),
                    history=self.history.get(group.name, {}),
                )
                self.history[group.name] = dict(decision.history)
                counted.unmatched_idle += decision.report.unmatched_idle_jobs
                problem = decision.report.problem()
                if problem:
                    reason = "match_error" if decision.report.error_pairs else "match_undefined"
                    result.problem(reason, f"group {group.name}: {problem}")
                for ad in request_ads(self.settings, group, decision, by_name,
                                      pool.collector, self.params):
                    ad[CYCLE_STARTED] = round(now, 3)
                    add_in_pool(ad, glidein_ads, entry_ads, self.settings, now)
                    ads.append(ad)
        if not pools_ok and not ads:
            return self._keep_last_good(result)
        try:
            self.wms.advertise(ads)
            if not self.legacy_withdrawn:
                self._withdraw_legacy(ads)
        except Exception as exc:
            result.problem("advertise", f"advertise to {self.settings.wms_collector}: {exc}")
        result.ads = ads
        self.last_good = ads
        return result

    def _withdraw_legacy(self, ads: Sequence[Mapping[str, Any]]) -> None:
        """Once per process: withdraw ads named as before per-credential requests
        (``<entry>@<client>``, no credential id) that a frontend of an older version may
        have left behind; the factory would otherwise count them as a request of the
        default credential besides this frontend's, until their lifetime ends."""
        withdraw = getattr(self.wms, "withdraw", None)
        self.legacy_withdrawn = True
        names = sorted({f"{ad[A.REQ_NAME]}@{ad[A.CLIENT_NAME]}" for ad in ads})
        if withdraw is not None and names:
            withdraw(names)

    def _jobs(self, pool: UserPool, schedds: Sequence[Mapping[str, Any]],
              group: GroupSettings, result: CycleResult) -> list[Job]:
        constraint = f"({pool.job_query}) && ({group.job_constraint})"
        projection = sorted({*JOB_BASE_ATTRS, *group.match.job_attrs})
        jobs: list[Job] = []
        for sad in schedds:
            name = str(sad.get("Name", "?"))
            overload = schedd_overload(sad)
            try:
                raw = self.pools.jobs(sad, constraint, projection)
            except Exception as exc:
                result.problem("schedd", f"schedd {name}: {exc}")
                continue
            for ad in raw:
                status = int(ad.get("JobStatus", 0))
                if status == JOB_IDLE:
                    if overload:
                        continue
                    result.jobs_idle += 1
                else:
                    result.jobs_running += 1
                jobs.append(Job(schedd=name, cluster=int(ad.get("ClusterId", 0)),
                                proc=int(ad.get("ProcId", 0)), status=status,
                                entered_status=int(ad.get("EnteredCurrentStatus", 0)),
                                attrs=ad))
            if overload:
                result.problem("schedd_overloaded", f"schedd {name} overloaded ({overload}): "
                               "its idle jobs are not counted")
        return jobs

    def withdraw(self) -> int:
        """Withdraw the request ads of the last cycle (a clean stop); return how many.

        The factory then sees no request from this frontend and, after its orphan grace
        period, removes the glideins still waiting (never running ones). A WMS client
        without ``withdraw`` (the dry one) withdraws nothing.
        """
        withdraw = getattr(self.wms, "withdraw", None)
        names = sorted({str(ad["Name"]) for ad in self.last_good if "Name" in ad})
        if withdraw is None or not names:
            return 0
        withdraw(names)
        return len(names)

    def _keep_last_good(self, result: CycleResult) -> CycleResult:
        result.kept_last_good = True
        result.ads = list(self.last_good)
        if self.last_good:
            try:
                self.wms.advertise(self.last_good)
            except Exception as exc:
                result.problem("advertise", f"re-advertise: {exc}")
        return result
