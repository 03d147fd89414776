"""Retention: which glideins' logs to delete, by age and by total size (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """One glidein's footprint: when it last wrote and how many bytes it holds."""

    entry: str
    glidein: str
    last_seen: float
    nbytes: int


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep logs at most ``max_age_seconds`` and at most ``max_total_bytes`` in all.

    ``None`` disables a limit. When the total is over, the oldest glideins go first.
    """

    max_age_seconds: float | None = 30 * 24 * 3600
    max_total_bytes: int | None = 50 * 1024**3


def select_victims(usage: Iterable[Usage], policy: RetentionPolicy,
                   now: float) -> list[Usage]:
    """The glideins to delete, oldest first, so that both limits hold afterwards."""
    rows = sorted(usage, key=lambda u: (u.last_seen, u.entry, u.glidein))
    victims: list[Usage] = []
    keep: list[Usage] = []
    for u in rows:
        if policy.max_age_seconds is not None and u.last_seen < now - policy.max_age_seconds:
            victims.append(u)
        else:
            keep.append(u)
    if policy.max_total_bytes is not None:
        total = sum(u.nbytes for u in keep)
        for u in keep:
            if total <= policy.max_total_bytes:
                break
            victims.append(u)
            total -= u.nbytes
    return victims
