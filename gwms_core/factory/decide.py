"""The factory's decisions, as pure functions over :mod:`gwms_core.factory.model`.

One entry at a time, :func:`plan_entry` decides, in this order:

0. waiting glideins that a request lists in ``GlideinsInPool`` (:func:`apply_in_pool`)
   count as running from here on: the site started them, the queue has not caught up;
1. held glideins (:func:`held_action`): release when the hold is recoverable and the
   backoff has passed, remove when unrecoverable or released too often, wait otherwise;
2. waiting glideins older than the idle lifetime: remove;
   waiting glideins of orphaned clients (:func:`orphaned_clients`): remove;
3. per request, glideins above the request (:func:`plan_removal`) at the request's
   removal level: unsubmitted first, then idle, then (only at ``ALL``) running;
4. submissions (:func:`plan_submission`): up to the request, within the entry and
   per-frontend limits and the per-cycle cap, shared fairly between requests.

Every later step sees the counts left by the earlier ones. Nothing here reads a clock:
``now`` is an argument.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from gwms_core.entries import EntryLimits
from gwms_core.factory.inpool import listed
from gwms_core.factory.model import (
    HOLD_BY_USER,
    Counts,
    Glidein,
    GlideinState,
    HeldPolicy,
    JobAction,
    Plan,
    Policy,
    Reason,
    RemovalLevel,
    Request,
    SubmitAction,
)

K = TypeVar("K", bound=Hashable)

_FIELD = {
    GlideinState.UNSUBMITTED: "unsubmitted",
    GlideinState.IDLE: "idle",
    GlideinState.RUNNING: "running",
    GlideinState.HELD: "held",
    GlideinState.REMOVED: "removed",
    GlideinState.COMPLETED: "completed",
}


# --------------------------------------------------------------------------- accounting


def count(glideins: Iterable[Glidein]) -> Counts:
    """Count glideins by state."""
    tally = dict.fromkeys(_FIELD.values(), 0)
    for g in glideins:
        tally[_FIELD[g.state]] += 1
    return Counts(**tally)


@dataclass(frozen=True, slots=True)
class Accounting:
    """Glidein counts per entry, per (entry, frontend, client, credential) and per
    (entry, frontend).

    A client is always qualified by the frontend identity that asked for its glideins: a
    frontend cannot change the count, or cause the removal, of another frontend's
    glideins by using the same ``ClientName``. It is also qualified by the credential id
    (``GlideinCredentialIdentifier``): one client's requests for two credentials at one
    entry govern two separate sets of glideins. The per-frontend counts sum over clients
    and credentials.
    """

    entries: Mapping[str, Counts]
    clients: Mapping[tuple[str, str, str, str], Counts]
    frontends: Mapping[tuple[str, str], Counts]

    def entry(self, name: str) -> Counts:
        """Counts of one entry (zeros when it has no glidein)."""
        return self.entries.get(name, Counts())


def account(glideins: Iterable[Glidein]) -> Accounting:
    """Group the queue's glideins by entry, (entry, frontend, client, credential) and
    (entry, frontend)."""
    by_entry: dict[str, list[Glidein]] = defaultdict(list)
    by_client: dict[tuple[str, str, str, str], list[Glidein]] = defaultdict(list)
    by_frontend: dict[tuple[str, str], list[Glidein]] = defaultdict(list)
    for g in glideins:
        by_entry[g.entry].append(g)
        by_client[(g.entry, *g.client_key)].append(g)
        by_frontend[(g.entry, g.frontend)].append(g)
    return Accounting(
        entries={k: count(v) for k, v in by_entry.items()},
        clients={k: count(v) for k, v in by_client.items()},
        frontends={k: count(v) for k, v in by_frontend.items()},
    )


# --------------------------------------------------------------------------- held glideins


class HeldAction(enum.Enum):
    """What :func:`held_action` decided for one held glidein."""

    RELEASE = "release"
    REMOVE = "remove"
    WAIT = "wait"
    LEAVE = "leave"


def held_action(g: Glidein, policy: HeldPolicy, now: int) -> tuple[HeldAction, Reason | None]:
    """Decide for a held glidein: release, remove, wait for the backoff, or leave alone."""
    if g.state is not GlideinState.HELD:
        return HeldAction.LEAVE, None
    if policy.leave_user_holds and g.hold_code == HOLD_BY_USER:
        return HeldAction.LEAVE, None
    if ((g.hold_code, g.hold_subcode) in policy.unrecoverable
            or (g.hold_code, None) in policy.unrecoverable):
        return HeldAction.REMOVE, Reason.HELD_UNRECOVERABLE
    if g.releases >= policy.max_releases:
        return HeldAction.REMOVE, Reason.HELD_TOO_OFTEN
    backoff = policy.backoff_s * (2 ** min(g.releases, 20))
    if now - g.since >= backoff:
        return HeldAction.RELEASE, Reason.HELD_RECOVERABLE
    return HeldAction.WAIT, None


# --------------------------------------------------------------------------- removal


def _newest_first(glideins: Iterable[Glidein]) -> list[Glidein]:
    return sorted(glideins, key=lambda g: (-g.since, -g.qdate, g.job_id))


def removal_order(glideins: Iterable[Glidein]) -> list[Glidein]:
    """Waiting glideins in the order they are removed: unsubmitted, then idle; newest first.

    The newest idle glidein is the one furthest from starting at the site.
    """
    pool = list(glideins)
    return (_newest_first(g for g in pool if g.state is GlideinState.UNSUBMITTED)
            + _newest_first(g for g in pool if g.state is GlideinState.IDLE))


def plan_removal(request: Request, glideins: Sequence[Glidein]) -> list[JobAction]:
    """Glideins of one (entry, client) to remove so the count comes down to ``request``.

    ``WAIT``: waiting glideins above ``idle + margin``. ``IDLE``: also waiting glideins
    keeping the total above ``max_glideins + margin``. ``ALL``: then running glideins while
    the total stays above ``max_glideins + margin`` (only those in ``request.removable``
    when the request lists some). ``NO`` removes nothing.
    """
    level = request.remove
    if level is RemovalLevel.NO:
        return []
    counts = count(glideins)
    waiting = removal_order(glideins)
    excess_idle = counts.waiting - (request.idle + request.margin)
    excess_total = counts.total - (request.max_glideins + request.margin)
    k = excess_idle if level is RemovalLevel.WAIT else max(excess_idle, excess_total)
    k = max(0, min(k, len(waiting)))
    out = [JobAction(g, Reason.EXCESS_WAITING) for g in waiting[:k]]
    if level is RemovalLevel.ALL:
        left = counts.total - k - (request.max_glideins + request.margin)
        if left > 0:
            running = [g for g in glideins if g.state is GlideinState.RUNNING
                       and (request.removable is None or g.job_id in request.removable)]
            out.extend(JobAction(g, Reason.EXCESS_RUNNING)
                       for g in _newest_first(running)[:left])
    return out


# --------------------------------------------------------------------------- submission


def waterfill(capacity: int, wants: Mapping[K, int]) -> dict[K, int]:
    """Share ``capacity`` between claimants: nobody gets more than it wants, and a claimant
    gets less only when every claimant that got more wanted more (max-min fairness).
    Ties are broken by key order."""
    out: dict[K, int] = {}
    left = max(0, capacity)
    order = sorted(wants, key=lambda k: (wants[k], repr(k)))
    for i, key in enumerate(order):
        share = left // (len(order) - i)
        give = max(0, min(wants[key], share))
        out[key] = give
        left -= give
    return out


def plan_submission(
    requests: Sequence[Request],
    clients: Mapping[tuple[str, str, str], Counts],
    frontends: Mapping[str, Counts],
    entry: Counts,
    limits: EntryLimits,
    cycle_cap: int,
    in_downtime: bool = False,
) -> tuple[dict[tuple[str, str, str], int], dict[str, str]]:
    """How many glideins to submit per (frontend, client, credential) at one entry.

    :param requests: accepted requests at this entry (one per frontend, client and
        credential).
    :param clients: counts per (frontend, client, credential) at this entry (after this
        cycle's removals).
    :param frontends: counts per frontend identity at this entry (all its clients and
        credentials: the per-frontend limits hold for the sum).
    :param entry: counts of the whole entry.
    :param cycle_cap: most glideins to submit at this entry this cycle.
    :returns: (count per (frontend, client, credential), limit that cut each reduced
        client, by client name).
    """
    limited: dict[str, str] = {}
    if in_downtime:
        return ({r.client_key: 0 for r in requests},
                {r.client: "in_downtime" for r in requests})
    wants: dict[tuple[str, str, str], int] = {}
    for r in requests:
        c = clients.get(r.client_key, Counts())
        want = max(0, r.idle - c.waiting)
        by_max = max(0, r.max_glideins - c.total)
        if by_max < want:
            limited[r.client] = "ReqMaxGlideins"
            want = by_max
        wants[r.client_key] = want
    # Per frontend identity: shared by the clients (groups) and credentials of that frontend.
    by_frontend: dict[str, dict[tuple[str, str, str], int]] = defaultdict(dict)
    for r in requests:
        by_frontend[r.frontend][r.client_key] = wants[r.client_key]
    frontend_cap: dict[str, int] = {}
    for fe, fe_wants in by_frontend.items():
        f = frontends.get(fe, Counts())
        caps = {
            "per_frontend_max_glideins": limits.per_frontend_max_glideins - f.total,
            "per_frontend_max_idle": limits.per_frontend_max_idle - f.waiting,
        }
        if f.held >= limits.per_frontend_max_held:
            caps["per_frontend_max_held"] = 0
        name, cap = min(caps.items(), key=lambda kv: kv[1])
        want = sum(fe_wants.values())
        if cap < want:
            for (_, client, _), w in fe_wants.items():
                if w:
                    limited.setdefault(client, name)
        frontend_cap[fe] = max(0, min(cap, want))
    entry_caps = {
        "max_glideins": limits.max_glideins - entry.total,
        "max_idle": limits.max_idle - entry.waiting,
        "max_submit_per_cycle": cycle_cap,
    }
    if entry.held >= limits.max_held:
        entry_caps["max_held"] = 0
    entry_name, entry_cap = min(entry_caps.items(), key=lambda kv: kv[1])
    per_frontend = waterfill(entry_cap, frontend_cap)
    out: dict[tuple[str, str, str], int] = {}
    for fe, fe_wants in by_frontend.items():
        if per_frontend[fe] < frontend_cap[fe]:
            for (_, client, _), w in fe_wants.items():
                if w:
                    limited.setdefault(client, entry_name)
        out.update(waterfill(per_frontend[fe], fe_wants))
    return out, limited


# --------------------------------------------------------------------------- one entry


def apply_in_pool(glideins: Sequence[Glidein], requests: Sequence[Request]) -> list[Glidein]:
    """The glideins, each waiting one (unsubmitted or idle) that its own request lists in
    ``GlideinsInPool`` counted as running.

    The factory queue's ``JobStatus`` lags the site by the blahp and gridmanager poll
    intervals; a glidein the frontend saw join its pool has started, whatever the queue
    says. Counting it as running (not just sparing it) keeps the arithmetic right: it is
    not removed as excess waiting (``WAIT``, ``IDLE``, idle lifetime), it does not hold
    back a submission the request asks for, and it still counts in every total. Only
    ``ALL`` may remove it, as any running glidein. Only the request of the glidein's own
    (frontend identity, client, credential) can vouch for it; held, removed and
    completed glideins are left as they are. A request without the attribute changes
    nothing.
    """
    lists = {r.client_key: r.in_pool for r in requests if r.in_pool}
    if not lists:
        return list(glideins)
    out: list[Glidein] = []
    for g in glideins:
        refs = lists.get(g.client_key)
        if (refs and g.state in (GlideinState.UNSUBMITTED, GlideinState.IDLE)
                and listed(refs, g.schedd, g.job_id)):
            g = replace(g, state=GlideinState.RUNNING)
        out.append(g)
    return out


def _without(glideins: Iterable[Glidein], gone: set[str]) -> list[Glidein]:
    return [g for g in glideins if g.job_id not in gone]


def plan_entry(
    entry: str,
    limits: EntryLimits,
    glideins: Sequence[Glidein],
    requests: Sequence[Request],
    policy: Policy,
    now: int,
    in_downtime: bool = False,
    orphaned: Collection[tuple[str, str, str]] = (),
) -> Plan:
    """Decide everything for one entry (see the module docstring for the order).

    :param glideins: this entry's glideins from the queue.
    :param requests: accepted requests for this entry, at most one per (frontend, client,
        credential).
    :param orphaned: (frontend identity, client, credential id) whose request has been
        gone longer than the grace period (:func:`orphaned_clients`): their waiting
        glideins are removed, as if they had asked for 0 idle glideins at level ``WAIT``.
        A key that also has a request in ``requests`` is not an orphan.
    """
    removes: list[JobAction] = []
    releases: list[JobAction] = []
    gone: set[str] = set()
    raw_states = {g.job_id: g.state for g in glideins}
    glideins = apply_in_pool(glideins, requests)
    in_pool = tuple(g.job_id for g in glideins if g.state is not raw_states[g.job_id])
    for g in glideins:
        if g.state is not GlideinState.HELD:
            continue
        action, reason = held_action(g, policy.held, now)
        if action is HeldAction.REMOVE and reason is not None:
            removes.append(JobAction(g, reason))
            gone.add(g.job_id)
        elif action is HeldAction.RELEASE and reason is not None:
            releases.append(JobAction(g, reason))
    if policy.idle_lifetime_s > 0:
        for g in glideins:
            if (g.state in (GlideinState.UNSUBMITTED, GlideinState.IDLE)
                    and now - g.since > policy.idle_lifetime_s):
                removes.append(JobAction(g, Reason.IDLE_LIFETIME))
                gone.add(g.job_id)
    asked = {r.client_key for r in requests}
    orphans = {key for key in orphaned if key not in asked}
    if orphans:
        for g in removal_order(g for g in glideins if g.job_id not in gone
                               and g.client_key in orphans):
            removes.append(JobAction(g, Reason.ORPHANED))
            gone.add(g.job_id)
    live = _without(glideins, gone)
    by_client: dict[tuple[str, str, str], list[Glidein]] = defaultdict(list)
    for g in live:
        by_client[g.client_key].append(g)
    for r in requests:
        excess = plan_removal(r, by_client.get(r.client_key, []))
        removes.extend(excess)
        gone.update(a.glidein.job_id for a in excess)
    live = _without(live, gone)
    acct = account(live)
    clients = {(f, c, k): n for (e, f, c, k), n in acct.clients.items() if e == entry}
    frontends = {f: n for (e, f), n in acct.frontends.items() if e == entry}
    counts, limited = plan_submission(requests, clients, frontends, acct.entry(entry), limits,
                                      policy.max_submit_per_cycle, in_downtime)
    submits = tuple(SubmitAction(r, counts[r.client_key]) for r in requests
                    if counts[r.client_key] > 0)
    return Plan(entry=entry, submit=submits, remove=tuple(removes), release=tuple(releases),
                limited=limited, orphaned=tuple(sorted(orphans)), in_pool=in_pool)


# --------------------------------------------------------------------------- orphans

#: (entry, frontend identity, client, credential id): one client's glideins of one
#: credential at one entry.
ClientKey = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Orphans:
    """What :func:`orphaned_clients` decided."""

    #: Clients whose request has been gone for at least the grace period.
    orphaned: frozenset[ClientKey]
    #: When each client was last seen with an accepted request (or, for a client first met
    #: without one, when that was noticed), for the next cycle; kept in the state file.
    last_seen: Mapping[ClientKey, int]


def orphaned_clients(
    glideins: Iterable[Glidein],
    requests: Iterable[Request],
    last_seen: Mapping[ClientKey, int],
    now: int,
    grace_s: int,
) -> Orphans:
    """Clients that have glideins but no accepted request for ``grace_s`` seconds or more.

    A client's clock is its last accepted request (``last_seen``). A client met with
    glideins but no request and no ``last_seen`` record (a new factory process whose state
    file was lost, or glideins from before an upgrade) starts its grace period ``now``: the
    factory never removes glideins sooner than ``grace_s`` after it could have known of the
    request. Clients with neither a request nor live glideins are forgotten.
    ``grace_s <= 0`` disables the rule (nothing is ever orphaned).
    """
    seen: dict[ClientKey, int] = {}
    asked: set[ClientKey] = set()
    for r in requests:
        key = (r.entry, *r.client_key)
        asked.add(key)
        seen[key] = now
    orphans: set[ClientKey] = set()
    for g in glideins:
        if g.state in (GlideinState.REMOVED, GlideinState.COMPLETED):
            continue
        key = (g.entry, *g.client_key)
        if key in asked or key in seen:
            continue
        since = last_seen.get(key, now)
        seen[key] = since
        if grace_s > 0 and now - since >= grace_s:
            orphans.add(key)
    return Orphans(frozenset(orphans), seen)


def merge_requests(requests: Iterable[Request]) -> list[Request]:
    """One request per (entry, frontend, client, credential): a later one replaces an
    earlier one."""
    out: dict[ClientKey, Request] = {}
    for r in requests:
        out[(r.entry, *r.client_key)] = r
    return list(out.values())


def with_released(glidein: Glidein) -> Glidein:
    """The glidein as it looks after a release (for simulations): idle again, one more release."""
    return replace(glidein, state=GlideinState.UNSUBMITTED, releases=glidein.releases + 1)
