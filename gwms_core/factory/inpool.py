"""``GlideinsInPool``: the wire format of "these glideins already joined the pool" (pure).

A frontend lists, in each request ad, the glideins of that request's (factory, entry,
client, credential) whose startd joined its pool recently
(:func:`gwms_core.frontend.inpool.select_in_pool`). The factory reads the list
(:func:`parse_in_pool`) and counts a listed glidein as running even while its own queue
still shows it idle, so it never removes it as an excess waiting glidein
(:func:`gwms_core.factory.decide.apply_in_pool`). See docs/factory.md, "Glideins in the
pool".

Format: comma-separated ``schedd#cluster.proc`` tokens, ``schedd`` being the factory
schedd's ``Name`` (as in the job's ``GlobalJobId``), ``cluster`` and ``proc`` whole
numbers. The schedd part may be empty (``#12.0``) when the glidein did not know it; it
then matches the job id on any schedd. Malformed tokens are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

#: (schedd name, ``"cluster.proc"``).
JobRef = tuple[str, str]


def format_token(schedd: str, cluster: int, proc: int) -> str:
    """One list item, ``schedd#cluster.proc``."""
    return f"{schedd}#{cluster}.{proc}"


def format_in_pool(refs: Iterable[tuple[str, int, int]]) -> str:
    """The attribute value for (schedd, cluster, proc) triples, in the given order,
    duplicates dropped."""
    seen: set[str] = set()
    out: list[str] = []
    for schedd, cluster, proc in refs:
        token = format_token(schedd, cluster, proc)
        if token not in seen:
            seen.add(token)
            out.append(token)
    return ",".join(out)


def parse_token(token: str) -> JobRef | None:
    """``(schedd, "cluster.proc")`` of one item, None when malformed."""
    schedd, sep, job = token.strip().rpartition("#")
    if not sep or "," in schedd:
        return None
    cluster, dot, proc = job.partition(".")
    if not dot or not cluster.isdigit() or not proc.isdigit() or not cluster.isascii() \
            or not proc.isascii():
        return None
    return schedd, f"{int(cluster)}.{int(proc)}"


def parse_in_pool(value: object) -> frozenset[JobRef] | None:
    """The job references of a request ad's ``GlideinsInPool``; None when the ad has no
    such attribute (an older frontend) or it is not a string."""
    if not isinstance(value, str):
        return None
    refs = (parse_token(t) for t in value.split(",") if t.strip())
    return frozenset(r for r in refs if r is not None)


def schedd_of(global_job_id: str) -> str:
    """The schedd name in a ``GlobalJobId`` (``schedd#cluster.proc#qdate``), "" if none."""
    head, sep, _ = global_job_id.partition("#")
    return head if sep else ""


def listed(refs: frozenset[JobRef], schedd: str, job_id: str) -> bool:
    """Whether the glidein ``job_id`` of the schedd ``schedd`` is in ``refs``. An empty
    schedd on either side matches any schedd."""
    if (schedd, job_id) in refs:
        return True
    if not schedd:
        return any(j == job_id for _, j in refs)
    return ("", job_id) in refs
