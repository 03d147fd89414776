"""Plain data passed between the steps of entry generation.

A source plugin turns its catalogue into :class:`Candidate` entries (the
catalogue layer, before defaults and overrides) plus :class:`Skipped` notes for
what it could not use. :func:`gwms_core.entrygen.merge.assemble` merges the
layers and returns a :class:`Generated` result. :class:`SourceError` means the
catalogue as a whole could not be read (unreachable, unauthorised, not JSON):
nothing from it is used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gwms_core.entries import Entry


class SourceError(Exception):
    """The whole catalogue is unusable. The message never contains a secret."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """One catalogue entry (or unit) that was not turned into an entry.

    ``ignored`` marks policy decisions (a non-production queue, a grid type no
    backend supports, an override's drop list): they are reported but are not
    errors. Everything else is bad input.
    """

    unit: str
    field: str
    reason: str
    entry: str = ""
    ignored: bool = False
    unit_kind: str = "compute unit"

    def __str__(self) -> str:
        where = f"{self.unit_kind} {self.unit!r}"
        if self.entry:
            where += f" entry {self.entry!r}"
        if self.field:
            where += f": field {self.field!r}"
        return f"{where}: {self.reason}"


def _frozen(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(data))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One entry as the catalogue describes it (the catalogue layer).

    ``data`` holds entry-file keys (``grid_type``, ``gatekeeper``, ``cpus``, ...)
    and only those the catalogue set; ``vos`` are the VOs the queue supports
    (mapped to frontends by the override file); ``unit`` and ``field_prefix``
    locate it in the catalogue for messages.
    """

    name: str
    unit: str
    data: Mapping[str, Any]
    vos: tuple[str, ...] = ()
    field_prefix: str = ""
    unit_kind: str = "compute unit"

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _frozen(self.data))

    def skip(self, field_name: str, reason: str, *, ignored: bool = False) -> Skipped:
        """A :class:`Skipped` note about this candidate."""
        path = ".".join(p for p in (self.field_prefix, field_name) if p)
        return Skipped(self.unit, path, reason, entry=self.name, ignored=ignored,
                       unit_kind=self.unit_kind)


@dataclass(frozen=True, slots=True)
class Generated:
    """The outcome of one generation: entries by name, and what was skipped."""

    entries: Mapping[str, Entry]
    skipped: tuple[Skipped, ...] = ()
    source: str = ""
    catalogue_size: int = field(default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries",
                           MappingProxyType({k: self.entries[k] for k in sorted(self.entries)}))

    @property
    def invalid(self) -> tuple[Skipped, ...]:
        """Skipped because the input was bad (these set the command's exit code)."""
        return tuple(s for s in self.skipped if not s.ignored)

    @property
    def ignored(self) -> tuple[Skipped, ...]:
        """Left out by policy (non-production, unsupported grid type, override drop)."""
        return tuple(s for s in self.skipped if s.ignored)

    def good_entries(self, log: logging.Logger) -> list[Entry]:
        """The entries an entry source's ``load`` returns; each invalid skip logged once."""
        for note in self.invalid:
            log.warning("skipped: %s", note)
        return list(self.entries.values())
