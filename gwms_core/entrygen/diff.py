"""The difference between two entry sets, per entry and per attribute.

Entries are compared in their canonical form (:func:`entry_to_dict`: every
field, defaults filled in), so a file that spells a default out and one that
leaves it implicit are equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from gwms_core.entries import Entry


def entry_to_dict(entry: Entry) -> dict[str, Any]:
    """Every field of ``entry`` as plain data (lists, dicts), without the name."""
    out: dict[str, Any] = {}
    for f in fields(entry):
        if f.name == "name":
            continue
        value = getattr(entry, f.name)
        if f.name == "limits":
            value = {lf.name: getattr(value, lf.name) for lf in fields(value)}
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"limits": {"max_idle": 5}}`` -> ``{"limits.max_idle": 5}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


@dataclass(frozen=True, slots=True)
class AttrChange:
    """One attribute of one entry that differs; ``None`` means absent on that side."""

    path: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.path}: {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:
    return "(unset)" if value is None else repr(value)


@dataclass(frozen=True, slots=True)
class EntryChange:
    """An entry present on both sides with different attributes."""

    name: str
    changes: tuple[AttrChange, ...]


@dataclass(frozen=True, slots=True)
class EntrySetDiff:
    """Added, removed and changed entries between an old and a new set."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[EntryChange, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        """True when both sets are equal."""
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        """``2 added, 1 removed, 3 changed, 250 unchanged``."""
        return (f"{len(self.added)} added, {len(self.removed)} removed, "
                f"{len(self.changed)} changed, {self.unchanged} unchanged")


def diff_entries(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> EntrySetDiff:
    """Compare two entry sets by name, then attribute by attribute."""
    added = tuple(sorted(set(new) - set(old)))
    removed = tuple(sorted(set(old) - set(new)))
    changed = []
    unchanged = 0
    for name in sorted(set(old) & set(new)):
        before = flatten(entry_to_dict(old[name]))
        after = flatten(entry_to_dict(new[name]))
        changes = tuple(
            AttrChange(path, before.get(path), after.get(path))
            for path in sorted(set(before) | set(after))
            if before.get(path) != after.get(path)
        )
        if changes:
            changed.append(EntryChange(name, changes))
        else:
            unchanged += 1
    return EntrySetDiff(added, removed, tuple(changed), unchanged)


def format_diff(diff: EntrySetDiff, new: Mapping[str, Entry] | None = None) -> list[str]:
    """Lines for a terminal: ``+ name``, ``- name``, ``~ name`` then its changes."""
    lines = []
    for name in diff.added:
        entry = (new or {}).get(name)
        detail = f" ({entry.grid_type} {entry.gatekeeper}, site {entry.site})" if entry else ""
        lines.append(f"+ {name}{detail}")
    lines.extend(f"- {name}" for name in diff.removed)
    for change in diff.changed:
        lines.append(f"~ {change.name}")
        lines.extend(f"    {c}" for c in change.changes)
    lines.append(diff.summary())
    return lines
