"""Write a generated entry set as a reviewable ``kind: entries`` YAML file.

The file is what the ``static`` source reads and ``gwms config validate``
checks. It is deterministic (same entries, same bytes: entries sorted by name,
keys in a fixed order, no timestamp), so a review diff shows only real changes.
Keys equal to the entry schema's defaults are left out, except the glidein size
(``cpus``, ``memory_mb``, ``walltime_s``) and ``allowed_frontends``, which a
reviewer wants to see.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gwms_core.entries import Entry, EntryLimits
from gwms_core.entrygen.diff import entry_to_dict

_ORDER = ("grid_type", "batch_system", "gatekeeper", "site", "queue", "cpus", "memory_mb",
          "walltime_s", "gpus", "os", "auth_method", "allowed_frontends", "in_downtime",
          "limits", "submit_attrs", "attrs")
_ALWAYS = frozenset({"grid_type", "gatekeeper", "site", "cpus", "memory_mb", "walltime_s",
                     "auth_method", "allowed_frontends"})
_EMPTY: dict[str, Any] = {"batch_system": "", "queue": "", "gpus": 0, "os": "",
                          "in_downtime": False, "submit_attrs": {}, "attrs": {}}


def entry_file_item(entry: Entry) -> dict[str, Any]:
    """The entry-file mapping for ``entry`` (keys in a fixed order, empties left out)."""
    full = entry_to_dict(entry)
    default_limits = entry_to_dict(Entry("x", "x", "x", "x", limits=EntryLimits()))["limits"]
    out: dict[str, Any] = {}
    for key in _ORDER:
        value = full[key]
        if key == "limits":
            value = {k: v for k, v in value.items() if default_limits[k] != v}
            if value:
                out[key] = value
            continue
        if key in _ALWAYS or value != _EMPTY.get(key):
            out[key] = dict(sorted(value.items())) if isinstance(value, dict) else value
    return out


def render_entries(entries: Mapping[str, Entry], header: Sequence[str] = ()) -> str:
    """The YAML text of a ``kind: entries`` file, with ``header`` as ``#`` comments."""
    doc = {"kind": "entries",
           "entries": {name: entry_file_item(entries[name]) for name in sorted(entries)}}
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100,
                          allow_unicode=False)
    head = "".join(f"# {line}\n" if line else "#\n" for line in header)
    return head + body


def write_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
