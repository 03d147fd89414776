"""Layered merge: built-in defaults, then the catalogue, then the operator's overrides.

Layers, lowest first, for every entry the catalogue offers:

1. :data:`BUILTIN_DEFAULTS` (from :mod:`gwms_core.defaults`),
2. the override file's ``defaults:`` (site-wide choices a catalogue rarely sets),
3. the catalogue's own values (:class:`~gwms_core.entrygen.model.Candidate`),
4. ``frontends_by_vo:`` turns the queue's supported VOs into ``allowed_frontends``,
5. the override file's ``entries:`` patterns, in file order.

Mappings (``limits``, ``attrs``, ``submit_attrs``) merge key by key; every other
value is replaced. ``memory_mb``, when no layer sets it, is ``cpus`` times the
per-CPU default. Then ``allow:`` and ``drop:`` filter by name, and ``pin:``
entries are used exactly as written, whatever the catalogue says.
"""

from __future__ import annotations

import copy
import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from gwms_core import defaults
from gwms_core.config.loader import ConfigError, LineMap, Problem, format_path, load_yaml
from gwms_core.entries import ENTRY_SCHEMA, Entry
from gwms_core.entrygen.model import Candidate, Generated, Skipped
from gwms_core.entrygen.naming import NAME_RE

#: Layer 1: what every generated entry starts from.
BUILTIN_DEFAULTS: Mapping[str, Any] = {
    "cpus": defaults.ENTRY_CPUS,
    "walltime_s": defaults.ENTRY_WALLTIME_SECONDS,
    "gpus": defaults.ENTRY_GPUS,
    "auth_method": defaults.ENTRY_AUTH_METHOD,
}

_MERGED_MAPPINGS = frozenset({"limits", "attrs", "submit_attrs"})


def _partial_entry_schema() -> dict[str, Any]:
    schema = copy.deepcopy(ENTRY_SCHEMA)
    schema.pop("required", None)
    schema["description"] = "Some keys of an entry; merged over the lower layers."
    return schema


#: JSON Schema of the operator's override file.
OVERRIDES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gwms entry overrides (gwms entries generate --override)",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "kind": {"const": "entry-overrides"},
        "defaults": {"$ref": "#/$defs/partial"},
        "frontends_by_vo": {
            "type": "object",
            "description": "VO name (case-insensitive) -> frontends allowed on its queues.",
            "additionalProperties": {"type": "array", "items": {"type": "string"},
                                     "uniqueItems": True},
        },
        "allow": {"type": "array", "items": {"type": "string", "minLength": 1},
                  "description": "Name patterns (fnmatch); when set, only these are kept."},
        "drop": {"type": "array", "items": {"type": "string", "minLength": 1},
                 "description": "Name patterns (fnmatch) never generated."},
        "entries": {
            "type": "object",
            "description": "Name pattern -> keys merged over the catalogue, in file order.",
            "additionalProperties": {"$ref": "#/$defs/partial"},
        },
        "pin": {
            "type": "object",
            "propertyNames": {"pattern": NAME_RE.pattern},
            "description": "Entries used exactly as written, whatever the catalogue says.",
            "additionalProperties": {"$ref": "#/$defs/entry"},
        },
    },
    "$defs": {"partial": _partial_entry_schema(), "entry": copy.deepcopy(ENTRY_SCHEMA)},
}


@dataclass(frozen=True, slots=True)
class Overrides:
    """The operator's override file, parsed (see :data:`OVERRIDES_SCHEMA`)."""

    defaults: Mapping[str, Any] = field(default_factory=dict)
    frontends_by_vo: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    entries: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    pin: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Overrides:
        """Build from a document already valid against :data:`OVERRIDES_SCHEMA`."""
        return cls(
            defaults=dict(data.get("defaults") or {}),
            frontends_by_vo={str(k).lower(): tuple(v) for k, v in
                             (data.get("frontends_by_vo") or {}).items()},
            allow=tuple(data.get("allow") or ()),
            drop=tuple(data.get("drop") or ()),
            entries=tuple((str(k), dict(v)) for k, v in (data.get("entries") or {}).items()),
            pin={str(k): dict(v) for k, v in (data.get("pin") or {}).items()},
        )


def override_problems(data: Any, file: str, lines: LineMap | None = None) -> list[Problem]:
    """Schema problems of an override document, each with file, line and path."""
    from gwms_core.config.validate import schema_problems

    return schema_problems(data, OVERRIDES_SCHEMA, file, lines or LineMap())


def load_overrides(path: Path | str) -> Overrides:
    """Read and validate an override file; ConfigError names file, line and path."""
    data, lines = load_yaml(path)
    if data is None:
        return Overrides()
    problems = override_problems(data, str(path), lines)
    if problems:
        raise ConfigError(problems)
    return Overrides.from_dict(data)


# --------------------------------------------------------------------------- merge


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: ``limits``/``attrs``/``submit_attrs`` merge by key."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if key in _MERGED_MAPPINGS and isinstance(value, Mapping) and \
                isinstance(out.get(key), Mapping):
            merged = dict(out[key])
            merged.update(copy.deepcopy(dict(value)))
            out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    return out


def _matches(name: str, patterns: Iterable[str]) -> str | None:
    for pattern in patterns:
        if fnmatch.fnmatchcase(name, pattern):
            return pattern
    return None


def merge_layers(candidate: Candidate, overrides: Overrides) -> dict[str, Any]:
    """The entry-file item for ``candidate`` after every layer (not yet validated)."""
    data = deep_merge(BUILTIN_DEFAULTS, overrides.defaults)
    data = deep_merge(data, candidate.data)
    if overrides.frontends_by_vo and candidate.vos:
        frontends = sorted({fe for vo in candidate.vos
                            for fe in overrides.frontends_by_vo.get(vo.lower(), ())})
        if frontends:
            data["allowed_frontends"] = frontends
    for pattern, partial in overrides.entries:
        if fnmatch.fnmatchcase(candidate.name, pattern):
            data = deep_merge(data, partial)
    if "memory_mb" not in data and isinstance(data.get("cpus"), int):
        data["memory_mb"] = data["cpus"] * defaults.ENTRY_MEMORY_MB_PER_CPU
    return data


def entry_problems(data: Mapping[str, Any],
                   entry_schema: Mapping[str, Any] | jsonschema.Draft202012Validator
                   ) -> list[tuple[str, str]]:
    """(dotted path, message) for every way ``data`` breaks ``entry_schema``
    (a schema, or a validator built from one)."""
    validator = entry_schema if isinstance(entry_schema, jsonschema.Draft202012Validator) \
        else jsonschema.Draft202012Validator(entry_schema)
    out = []
    for err in validator.iter_errors(dict(data)):
        path = format_path(tuple(err.absolute_path))
        if err.validator == "required" and isinstance(err.validator_value, list):
            missing = [k for k in err.validator_value if k not in (err.instance or {})]
            for key in missing:
                out.append((key, "is required but missing"))
            continue
        out.append(("" if path == "<root>" else path, err.message))
    return sorted(out)


def assemble(candidates: Sequence[Candidate], overrides: Overrides | None = None, *,
             entry_schema: Mapping[str, Any] | None = None,
             skipped: Sequence[Skipped] = (), source: str = "") -> Generated:
    """Merge every layer, drop duplicates and invalid entries, apply allow/drop/pin.

    A name the catalogue gives to more than one entry is ambiguous: every
    entry carrying it is skipped (keeping one would silently pick a gatekeeper).
    ``entry_schema`` (the ``entry`` definition of the composed ``entries``
    schema, which knows the installed backends) checks each merged entry; an
    entry that fails is skipped with the failing field.
    """
    overrides = overrides or Overrides()
    schema = jsonschema.Draft202012Validator(
        entry_schema if entry_schema is not None else ENTRY_SCHEMA)
    notes = list(skipped)
    by_name: dict[str, list[Candidate]] = defaultdict(list)
    for cand in candidates:
        by_name[cand.name].append(cand)
    entries: dict[str, Entry] = {}
    for name in sorted(by_name):
        group = by_name[name]
        if name in overrides.pin:
            notes.extend(c.skip("", "replaced by the override file's pin", ignored=True)
                         for c in group)
            continue
        if len(group) > 1:
            for cand in group:
                others = sorted({f"{o.unit}" for o in group if o is not cand} - {cand.unit})
                also = f" (also in {', '.join(repr(o) for o in others)})" if others else \
                    f" ({len(group)} times in this unit)"
                notes.append(cand.skip("name", f"duplicate entry name {name!r}{also}"))
            continue
        cand = group[0]
        if overrides.allow and _matches(name, overrides.allow) is None:
            notes.append(cand.skip("", "not in the override file's allow list", ignored=True))
            continue
        pattern = _matches(name, overrides.drop)
        if pattern is not None:
            notes.append(cand.skip("", f"dropped by override pattern {pattern!r}",
                                   ignored=True))
            continue
        data = merge_layers(cand, overrides)
        problems = entry_problems(data, schema)
        if problems:
            path, message = problems[0]
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            notes.append(cand.skip(path, message + more))
            continue
        entries[name] = Entry.from_dict(name, data)
    for name, pinned in overrides.pin.items():
        problems = entry_problems(pinned, schema)
        if problems:
            path, message = problems[0]
            notes.append(Skipped("pin", path, message, entry=name, unit_kind="override file"))
            continue
        entries[name] = Entry.from_dict(name, pinned)
    return Generated(entries=entries, skipped=tuple(notes), source=source,
                     catalogue_size=len(candidates))
