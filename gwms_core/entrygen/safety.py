"""The drop-fraction check: refuse a catalogue that suddenly loses most entries.

A catalogue outage often looks like a valid but nearly empty answer. Before a
generated set replaces the current one, :func:`check_drop` compares the two:
when more than ``max_fraction`` of the current entries would disappear, the new
set is refused and the current one stays.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

#: Default largest fraction of current entries a new set may remove.
DEFAULT_MAX_DROP_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class DropCheck:
    """Outcome of :func:`check_drop`."""

    current: int
    removed: int
    max_fraction: float

    @property
    def fraction(self) -> float:
        """Removed / current (0 when there is no current set)."""
        return self.removed / self.current if self.current else 0.0

    @property
    def ok(self) -> bool:
        """True when the new set may replace the current one."""
        return self.fraction <= self.max_fraction

    def __str__(self) -> str:
        verdict = "within" if self.ok else "exceeds"
        return (f"{self.removed} of {self.current} current entries would be removed "
                f"({self.fraction:.0%}), which {verdict} the limit of {self.max_fraction:.0%}")


def check_drop(current: Collection[str], new: Collection[str],
               max_fraction: float = DEFAULT_MAX_DROP_FRACTION) -> DropCheck:
    """Compare entry names; ``max_fraction`` is in [0, 1] (1 never refuses)."""
    if not 0.0 <= max_fraction <= 1.0:
        raise ValueError(f"max_fraction must be between 0 and 1, got {max_fraction!r}")
    new_names = set(new)
    removed = sum(1 for name in set(current) if name not in new_names)
    return DropCheck(len(set(current)), removed, max_fraction)
