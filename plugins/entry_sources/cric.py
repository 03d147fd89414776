"""Entry source ``cric``: entries generated from a CRIC compute-unit JSON document.

Registration and options only for now; the parser arrives with issue 9. Until
then :meth:`CricSource.load` refuses with a clear message instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gwms_core import hookimpl
from gwms_core.entries import Entry
from gwms_core.types import EntrySource

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Entries generated from CRIC (file or HTTPS URL).",
    "additionalProperties": False,
    "oneOf": [{"required": ["path"]}, {"required": ["url"]}],
    "properties": {
        "path": {"type": "string", "minLength": 1},
        "url": {"type": "string", "pattern": "^https://"},
        "token_file": {"type": "string"},
        "include_non_production": {"type": "boolean", "default": False},
        "refresh_seconds": {"type": "integer", "minimum": 60, "default": 3600},
        "max_drop_fraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
        "override_file": {"type": "string"},
    },
}


class CricSource:
    """CRIC compute units to entries."""

    def load(self, options: Mapping[str, Any], base_dir: Path) -> Sequence[Entry]:
        """Not implemented yet (issue 9)."""
        raise NotImplementedError("the cric entry source has no parser yet (issue 9)")


@hookimpl
def gwms_entry_sources() -> Iterable[EntrySource]:
    """Register the ``cric`` entry source."""
    yield EntrySource(name="cric", schema=SCHEMA, handler=CricSource(),
                      description="entries from CRIC compute units")
