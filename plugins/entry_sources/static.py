"""Entry source ``static``: entries from a YAML file (``kind: entries``).

The file is validated like any configuration file (``gwms config validate``
works on it), so a bad entry is reported with its file, line and path and no
entry from that file is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gwms_core import hookimpl
from gwms_core.config import load_config
from gwms_core.entries import Entry
from gwms_core.types import EntrySource

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Entries from a static YAML entry file.",
    "required": ["path"],
    "additionalProperties": False,
    "properties": {
        "path": {"type": "string", "minLength": 1,
                 "description": "Entry file; relative to the configuration file's directory."},
    },
}


class StaticSource:
    """Reads a ``kind: entries`` YAML file."""

    def load(self, options: Mapping[str, Any], base_dir: Path) -> Sequence[Entry]:
        """Validate the file and return its entries, sorted by name."""
        path = Path(options["path"])
        if not path.is_absolute():
            path = base_dir / path
        cfg = load_config(path, expect_kind="entries")
        entries = cfg.data.get("entries", {})
        return [Entry.from_dict(name, entries[name]) for name in sorted(entries)]


@hookimpl
def gwms_entry_sources() -> Iterable[EntrySource]:
    """Register the ``static`` entry source."""
    yield EntrySource(name="static", schema=SCHEMA, handler=StaticSource(),
                      description="entries from a YAML file")
