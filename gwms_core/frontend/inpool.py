"""Which glideins a request ad lists in ``GlideinsInPool`` (pure).

The factory removes excess glideins it sees as waiting (``JobStatus`` 1 in its queue). Its
queue lags the site by the blahp and gridmanager poll intervals, so right after a request
is lowered it may remove a glidein that has already started and joined the pool, even one
that runs a job. The frontend sees the startd; it tells the factory with the list built
here (format: :mod:`gwms_core.factory.inpool`), and the factory counts a listed glidein as
running. See docs/frontend.md, "Glideins in the pool".

Only glideins whose startd started (``DaemonStartTime``) within ``window_s`` seconds are
listed: an older one is running in the factory's queue too by then, and the list stays
short. At most ``cap`` are listed, the most recently started first; the rest are counted
in ``dropped`` (the factory may then remove them as waiting, as without the list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gwms_core import defaults
from gwms_core.factory import attrs as A
from gwms_core.factory.inpool import format_in_pool


@dataclass(frozen=True, slots=True)
class InPoolKey:
    """Whose glideins one request ad governs."""

    #: ``GLIDEIN_Factory`` (the entry ad's ``FactoryName``).
    factory: str
    #: ``GLIDEIN_Entry_Name`` (the entry ad's ``EntryName``, not its full ``Name``).
    entry: str
    #: ``GLIDEIN_Client``: the frontend name.
    frontend: str
    #: ``GLIDECLIENT_Group``.
    group: str
    #: ``GlideinCredentialIdentifier`` of the request ad.
    credential: str = A.DEFAULT_CREDENTIAL


@dataclass(frozen=True, slots=True)
class InPool:
    """The attribute value and what was left out."""

    value: str
    listed: int
    dropped: int


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _matches(ad: Mapping[str, Any], key: InPoolKey) -> bool:
    if str(ad.get("GLIDEIN_Factory", "")) != key.factory:
        return False
    if str(ad.get("GLIDEIN_Entry_Name", "")) != key.entry:
        return False
    if str(ad.get("GLIDEIN_Client", "")) != key.frontend:
        return False
    group = ad.get("GLIDECLIENT_Group")
    if group is not None and str(group) != key.group:
        return False
    cred = ad.get(A.GLIDEIN_CREDENTIAL)
    # A glidein that does not advertise its credential is listed in every credential's
    # request of its entry: the factory matches the job id only among the glideins of the
    # request's own credential, so the extra item costs room, never a wrong decision.
    return cred is None or str(cred) == key.credential


def select_in_pool(startd_ads: Iterable[Mapping[str, Any]], key: InPoolKey, now: float,
                   window_s: int = defaults.GLIDEINS_IN_POOL_WINDOW_SECONDS,
                   cap: int = defaults.GLIDEINS_IN_POOL_MAX) -> InPool:
    """The ``GlideinsInPool`` value for the request ad of ``key``.

    :param startd_ads: slot ads of the user pool (one glidein may have several slots;
        it is listed once). Ads without ``GLIDEIN_ClusterId``/``GLIDEIN_ProcId`` (a
        glidein from an older factory) or without ``DaemonStartTime`` are skipped.
    :param now: seconds since the epoch (the cycle's start).
    :param window_s: list only startds started at most this many seconds before ``now``.
    :param cap: list at most this many (the newest); ``dropped`` counts the others.
    """
    newest: dict[tuple[str, int, int], int] = {}
    for ad in startd_ads:
        if not _matches(ad, key):
            continue
        cluster = _int(ad.get(A.GLIDEIN_CLUSTER))
        proc = _int(ad.get(A.GLIDEIN_PROC))
        started = _int(ad.get("DaemonStartTime"))
        if cluster is None or proc is None or started is None:
            continue
        if now - started > window_s:
            continue
        schedd = str(ad.get(A.GLIDEIN_SCHEDD, "") or "")
        if "," in schedd:  # cannot be written in the list; never a real schedd name
            continue
        ref = (schedd, cluster, proc)
        newest[ref] = max(started, newest.get(ref, started))
    order = sorted(newest, key=lambda r: (-newest[r], r))
    keep = order[:max(0, cap)]
    return InPool(format_in_pool(keep), len(keep), len(order) - len(keep))
