"""Plain data for the factory's decisions: glideins, requests, policy, actions.

Frozen, slotted dataclasses with no I/O. :mod:`gwms_core.factory.decide` turns
them into a :class:`Plan`; :mod:`gwms_core.factory.schedd` carries the plan out.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gwms_core import defaults
from gwms_core.factory import attrs as A
from gwms_core.factory.inpool import JobRef, schedd_of

#: HTCondor ``JobStatus`` values.
JOB_IDLE = 1
JOB_RUNNING = 2
JOB_REMOVED = 3
JOB_COMPLETED = 4
JOB_HELD = 5
JOB_TRANSFERRING_OUTPUT = 6
JOB_SUSPENDED = 7

#: ``GridJobStatus`` strings that mean the glidein started at the site, even when the local
#: ``JobStatus`` has not caught up yet (HTCondor-C mirrors the remote status with a delay).
GRID_RUNNING = frozenset({"RUNNING", "2", "ACTIVE", "INLRMS:R", "EXECUTING"})


class GlideinState(enum.Enum):
    """Where a glidein is, as the factory counts it."""

    #: In the factory queue, not yet accepted by the site (``JobStatus`` 1, no ``GridJobId``).
    UNSUBMITTED = "unsubmitted"
    #: Waiting in the site's queue (``JobStatus`` 1 with a ``GridJobId``).
    IDLE = "idle"
    #: Started at the site (``JobStatus`` 2, 6 or 7, or a running ``GridJobStatus``).
    RUNNING = "running"
    #: Held in the factory queue (``JobStatus`` 5).
    HELD = "held"
    #: Being removed (``JobStatus`` 3): the gridmanager is cancelling it at the site.
    REMOVED = "removed"
    #: Finished (``JobStatus`` 4), still in the queue.
    COMPLETED = "completed"


def classify(job_status: int, grid_job_id: str | None, grid_job_status: str | None) -> GlideinState:
    """Map the job's ``JobStatus``/``GridJobId``/``GridJobStatus`` to a :class:`GlideinState`."""
    if job_status == JOB_HELD:
        return GlideinState.HELD
    if job_status == JOB_REMOVED:
        return GlideinState.REMOVED
    if job_status == JOB_COMPLETED:
        return GlideinState.COMPLETED
    if job_status in (JOB_RUNNING, JOB_TRANSFERRING_OUTPUT, JOB_SUSPENDED):
        return GlideinState.RUNNING
    if (grid_job_status or "").strip().upper() in GRID_RUNNING:
        return GlideinState.RUNNING
    return GlideinState.IDLE if grid_job_id else GlideinState.UNSUBMITTED


@dataclass(frozen=True, slots=True)
class Glidein:
    """One glidein job in the factory schedd's queue."""

    #: ``"ClusterId.ProcId"``.
    job_id: str
    entry: str
    #: ``GlideinClient``: the request's ``ClientName``.
    client: str
    #: ``GlideinFrontendName``: the frontend's authenticated identity.
    frontend: str
    state: GlideinState
    #: ``EnteredCurrentStatus``, seconds since the epoch.
    since: int = 0
    #: ``QDate``, seconds since the epoch.
    qdate: int = 0
    hold_code: int = 0
    hold_subcode: int = 0
    #: ``GwmsReleases``: times the factory released it.
    releases: int = 0
    #: ``GwmsSubmissionId``.
    submission: str = ""
    #: ``GlideinCredentialIdentifier`` (:data:`~gwms_core.factory.attrs.DEFAULT_CREDENTIAL`
    #: when the job has none).
    credential: str = A.DEFAULT_CREDENTIAL
    #: The schedd's ``Name``, from ``GlobalJobId`` ("" when the ad has none).
    schedd: str = ""

    @property
    def client_key(self) -> tuple[str, str, str]:
        """(frontend identity, client, credential id): whose request this glidein serves."""
        return (self.frontend, self.client, self.credential)

    @classmethod
    def from_ad(cls, ad: Mapping[str, Any]) -> Glidein:
        """Build from a queue ad (a ``classad2.ClassAd`` or a dict with the same keys)."""

        def num(key: str) -> int:
            value = ad.get(key)
            try:
                return int(value) if value is not None else 0
            except (TypeError, ValueError):
                return 0

        def text(key: str) -> str:
            value = ad.get(key)
            return "" if value is None else str(value)

        return cls(
            job_id=f"{num('ClusterId')}.{num('ProcId')}",
            entry=text(A.ENTRY),
            client=text(A.CLIENT),
            frontend=text(A.FRONTEND),
            state=classify(num("JobStatus"), text("GridJobId") or None,
                           text("GridJobStatus") or None),
            since=num("EnteredCurrentStatus"),
            qdate=num("QDate"),
            hold_code=num("HoldReasonCode"),
            hold_subcode=num("HoldReasonSubCode"),
            releases=num(A.RELEASES),
            submission=text(A.SUBMISSION),
            credential=text(A.CREDENTIAL) or A.DEFAULT_CREDENTIAL,
            schedd=schedd_of(text("GlobalJobId")),
        )


@dataclass(frozen=True, slots=True)
class Counts:
    """Glideins by state (one entry, one client, or one frontend)."""

    unsubmitted: int = 0
    idle: int = 0
    running: int = 0
    held: int = 0
    removed: int = 0
    completed: int = 0

    @property
    def waiting(self) -> int:
        """Not started yet: unsubmitted plus idle at the site (GlideinWMS "idle")."""
        return self.unsubmitted + self.idle

    @property
    def total(self) -> int:
        """What the limits count: waiting, running and held (not removed or completed)."""
        return self.unsubmitted + self.idle + self.running + self.held

    def as_dict(self) -> dict[str, int]:
        """Every count, plus ``waiting`` and ``total``, by name."""
        return {
            "unsubmitted": self.unsubmitted, "idle": self.idle, "running": self.running,
            "held": self.held, "removed": self.removed, "completed": self.completed,
            "waiting": self.waiting, "total": self.total,
        }


class RemovalLevel(enum.IntEnum):
    """``ReqRemoveExcess``: how far the factory may go to bring glideins down to the request.

    ``WAIT`` removes waiting glideins above ``ReqIdleGlideins``; ``IDLE`` also removes
    waiting glideins that keep the total above ``ReqMaxGlideins``; ``ALL`` then removes
    running glideins while the total is still above ``ReqMaxGlideins``. The margin
    (``ReqRemoveExcessMargin``) is added to both targets.
    """

    NO = 0
    WAIT = 1
    IDLE = 2
    ALL = 3

    @classmethod
    def parse(cls, value: object) -> RemovalLevel:
        """Accept the GlideinWMS strings (``NO``, ``WAIT``, ``IDLE``, ``ALL``; ``UNREG`` as
        ``ALL``) or their integer values; anything else is ``NO``."""
        if isinstance(value, bool):
            return cls.NO
        if isinstance(value, int):
            return cls(value) if 0 <= value <= 3 else cls.NO
        text = str(value).strip().upper()
        if text == "UNREG":
            return cls.ALL
        return cls.__members__.get(text, cls.NO)


@dataclass(frozen=True, slots=True)
class Request:
    """One accepted request: a client asking for glideins at one entry."""

    entry: str
    #: ``ClientName`` of the request ad; glideins are tagged ``GlideinClient`` with it.
    client: str
    #: The frontend's ``AuthenticatedIdentity``, as the collector authenticated it.
    frontend: str
    #: ``ReqIdleGlideins``.
    idle: int
    #: ``ReqMaxGlideins``.
    max_glideins: int
    #: ``ReqRemoveExcess``.
    remove: RemovalLevel = RemovalLevel.NO
    #: ``ReqRemoveExcessMargin``.
    margin: int = 0
    #: ``ReqName`` (tagged on glideins as ``GwmsRequestName``).
    name: str = ""
    #: Running glideins (job ids) the frontend allows ``ALL`` to remove; None: any.
    removable: frozenset[str] | None = None
    #: Request parameters passed to the glidein (``GlideinParam*``), clear text.
    params: Mapping[str, str] = field(default_factory=dict)
    #: ``GlideinCredentialIdentifier`` of the request ad (the default id when absent);
    #: tagged on its glideins. One client may send one request per credential.
    credential: str = A.DEFAULT_CREDENTIAL
    #: ``GlideinsInPool``: (schedd, ``"cluster.proc"``) of this client's glideins that
    #: joined the frontend's pool; None when the ad has no such attribute (an older
    #: frontend). A listed glidein counts as running (never removed below ``ALL``).
    in_pool: frozenset[JobRef] | None = None

    @property
    def client_key(self) -> tuple[str, str, str]:
        """(frontend identity, client, credential id): the glideins this request governs."""
        return (self.frontend, self.client, self.credential)


#: HoldReasonCodes not worth a release (:data:`gwms_core.defaults.HELD_UNRECOVERABLE_CODES`):
#: the job's own policy expression (3), process creation (6), input/output files (7, 8, 12,
#: 13), memory/disk/size limits (26, 27, 34, 35). Any (code, subcode) not listed is
#: recoverable. Configurable (``held_glideins.unrecoverable_hold_codes``).
DEFAULT_UNRECOVERABLE: frozenset[tuple[int, int | None]] = frozenset(
    (code, None) for code in defaults.HELD_UNRECOVERABLE_CODES
)
#: HoldReasonCode 1: held by a person (``condor_hold``). The factory leaves such glideins alone.
HOLD_BY_USER = 1


@dataclass(frozen=True, slots=True)
class HeldPolicy:
    """What to do with held glideins."""

    #: Releases per glidein before it is removed instead.
    max_releases: int = defaults.HELD_MAX_RELEASES
    #: Seconds a glidein stays held before the first release; doubled after each release.
    backoff_s: int = defaults.HELD_RELEASE_BACKOFF_SECONDS
    #: ``(HoldReasonCode, HoldReasonSubCode)`` pairs never released; subcode None = any.
    unrecoverable: frozenset[tuple[int, int | None]] = DEFAULT_UNRECOVERABLE
    #: Leave glideins held by a person (``HoldReasonCode`` 1) alone.
    leave_user_holds: bool = defaults.HELD_LEAVE_USER_HOLDS

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> HeldPolicy:
        """Build from a factory file's ``held_glideins`` mapping (absent keys: defaults).

        ``unrecoverable_hold_codes`` items are a code (any subcode) or a mapping
        ``{code: C, subcode: S}``.
        """
        d = dict(section or {})
        codes: set[tuple[int, int | None]] = set()
        for item in d.get("unrecoverable_hold_codes", defaults.HELD_UNRECOVERABLE_CODES):
            if isinstance(item, Mapping):
                sub = item.get("subcode")
                codes.add((int(item["code"]), None if sub is None else int(sub)))
            else:
                codes.add((int(item), None))
        return cls(
            max_releases=int(d.get("max_releases", defaults.HELD_MAX_RELEASES)),
            backoff_s=int(d.get("release_backoff_s", defaults.HELD_RELEASE_BACKOFF_SECONDS)),
            unrecoverable=frozenset(codes),
            leave_user_holds=bool(d.get("leave_user_holds", defaults.HELD_LEAVE_USER_HOLDS)),
        )


@dataclass(frozen=True, slots=True)
class Policy:
    """Factory-wide decision parameters."""

    #: Glideins submitted per entry per cycle, at most.
    max_submit_per_cycle: int = defaults.MAX_SUBMIT_PER_CYCLE
    #: Seconds a glidein may wait (unsubmitted or idle at the site) before it is removed;
    #: 0 disables.
    idle_lifetime_s: int = defaults.IDLE_LIFETIME_SECONDS
    held: HeldPolicy = field(default_factory=HeldPolicy)
    #: Seconds a client may have no accepted request before its waiting glideins are
    #: removed (:func:`gwms_core.factory.decide.orphaned_clients`); 0 disables.
    orphan_grace_s: int = defaults.ORPHAN_GRACE_SECONDS


class Reason(enum.Enum):
    """Why a glidein is removed or released (reported and used as the hold/remove reason)."""

    EXCESS_WAITING = "excess waiting glidein (request lowered)"
    EXCESS_RUNNING = "excess running glidein (removal level ALL)"
    IDLE_LIFETIME = "waited longer than the idle lifetime"
    HELD_UNRECOVERABLE = "held for an unrecoverable reason"
    HELD_TOO_OFTEN = "held again after the maximum number of releases"
    HELD_RECOVERABLE = "recoverable hold, backoff passed"
    ORPHANED = "request gone for longer than the orphan grace period"


@dataclass(frozen=True, slots=True)
class SubmitAction:
    """Submit ``count`` glideins for ``request`` at its entry."""

    request: Request
    count: int


@dataclass(frozen=True, slots=True)
class JobAction:
    """Remove or release one glidein."""

    glidein: Glidein
    reason: Reason


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the factory will do at one entry this cycle."""

    entry: str
    submit: tuple[SubmitAction, ...] = ()
    remove: tuple[JobAction, ...] = ()
    release: tuple[JobAction, ...] = ()
    #: Limits that reduced a submission, e.g. ``{"client": "per_frontend_max_idle"}``.
    limited: Mapping[str, str] = field(default_factory=dict)
    #: (frontend identity, client, credential id) treated as orphans (their request gone
    #: too long).
    orphaned: tuple[tuple[str, str, str], ...] = ()
    #: Waiting glideins (job ids) counted as running because their request lists them in
    #: ``GlideinsInPool`` (:func:`~gwms_core.factory.decide.apply_in_pool`).
    in_pool: tuple[str, ...] = ()

    @property
    def submit_count(self) -> int:
        """Glideins submitted in total."""
        return sum(s.count for s in self.submit)
