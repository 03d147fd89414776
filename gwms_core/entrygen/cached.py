"""Live use of an entry source: refresh on a schedule, keep the last good data.

:class:`CachedSource` wraps any entry-source handler. :meth:`CachedSource.entries`
reloads when ``refresh_seconds`` have passed; when the load raises, or returns a
set that would drop more than ``max_drop_fraction`` of the last good one, the
last good entries stay in use and :attr:`CachedSource.last_error` says why. The
clock is injected, so behaviour is testable without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gwms_core.entries import Entry
from gwms_core.entrygen.safety import DEFAULT_MAX_DROP_FRACTION, check_drop
from gwms_core.types import EntrySourceHandler


class NoEntriesYet(RuntimeError):
    """The source never loaded successfully, so there is nothing to fall back on."""


@dataclass(frozen=True, slots=True)
class RefreshStatus:
    """What happened at the last refresh attempt."""

    attempted_at: float | None
    succeeded_at: float | None
    error: str | None
    stale: bool


class CachedSource:
    """A handler plus its options, reloaded at most every ``refresh_seconds``."""

    def __init__(self, handler: EntrySourceHandler, options: Mapping[str, Any],
                 base_dir: Path, *, refresh_seconds: float,
                 max_drop_fraction: float = DEFAULT_MAX_DROP_FRACTION,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._handler = handler
        self._options = dict(options)
        self._base_dir = base_dir
        self.refresh_seconds = refresh_seconds
        self.max_drop_fraction = max_drop_fraction
        self._clock = clock
        self._good: tuple[Entry, ...] | None = None
        self._attempted: float | None = None
        self._succeeded: float | None = None
        self.last_error: str | None = None

    def due(self) -> bool:
        """True when the next :meth:`entries` call will reload."""
        return self._attempted is None or \
            self._clock() - self._attempted >= self.refresh_seconds

    def refresh(self) -> bool:
        """Reload now; True when the new set was accepted."""
        self._attempted = self._clock()
        try:
            loaded: Sequence[Entry] = tuple(self._handler.load(self._options, self._base_dir))
        except Exception as exc:  # any source failure keeps the last good data
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        if self._good is not None:
            check = check_drop([e.name for e in self._good], [e.name for e in loaded],
                               self.max_drop_fraction)
            if not check.ok:
                self.last_error = f"refused: {check}"
                return False
        self._good = tuple(loaded)
        self._succeeded = self._attempted
        self.last_error = None
        return True

    def entries(self) -> tuple[Entry, ...]:
        """The current entries (reloading first when due); NoEntriesYet if none ever."""
        if self.due():
            self.refresh()
        if self._good is None:
            raise NoEntriesYet(self.last_error or "the source has not been loaded")
        return self._good

    @property
    def status(self) -> RefreshStatus:
        """Times of the last attempt and success, the last error, staleness."""
        return RefreshStatus(self._attempted, self._succeeded, self.last_error,
                             stale=self.last_error is not None and self._good is not None)
