"""Example VO plugin: one entry source and one event hook."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gwms_core import hookimpl
from gwms_core.entries import Entry
from gwms_core.types import EntrySource

VO_NAME = "examplevo"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Entries from a 'site gatekeeper' list file.",
    "required": ["path"],
    "additionalProperties": False,
    "properties": {
        "path": {"type": "string"},
        "cpus": {"type": "integer", "minimum": 1, "default": 8},
    },
}


class SiteList:
    """Reads lines 'SITE GATEKEEPER'; '#' starts a comment."""

    def load(self, options: Mapping[str, Any], base_dir: Path) -> Sequence[Entry]:
        path = Path(options["path"])
        if not path.is_absolute():
            path = base_dir / path
        cpus = int(options.get("cpus", 8))
        entries = []
        for lineno, raw in enumerate(path.read_text().splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{path}:{lineno}: expected 'SITE GATEKEEPER', got {raw!r}")
            site, gatekeeper = parts
            entries.append(Entry(name=f"{VO_NAME}_{site}", grid_type="condor",
                                 gatekeeper=gatekeeper, site=site, cpus=cpus,
                                 memory_mb=cpus * 2000, allowed_frontends=(VO_NAME,)))
        return entries


@hookimpl
def gwms_entry_sources() -> Iterable[EntrySource]:
    yield EntrySource(name="vo-sites", schema=SCHEMA, handler=SiteList(),
                      description="example VO: entries from a site list")


@hookimpl
def gwms_glidein_attributes(entry: Entry, group: str) -> Mapping[str, str] | None:
    return {"VO_Name": f'"{VO_NAME}"', "VO_ExampleVersion": '"1.0.0"'}
