"""Grid type ``arc``: an ARC CE through its REST interface.

``grid_resource = arc https://host[:port]/arex``; the glidein size goes into
``arc_resources`` as ADL elements. Untested here: no ARC CE runs on the local
grid (see docs/plugins/backends.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gwms_core import hookimpl
from gwms_core.entries import Entry
from gwms_core.types import SubmissionBackend

from ._common import glidein_size, merged

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Options of the arc grid type (ARC CE REST). Untested on the local grid.",
    "additionalProperties": False,
    "properties": {
        "default_port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 443},
    },
}


class ArcBackend:
    """Builds grid-universe submissions for ARC CEs."""

    def __init__(self, default_port: int = 443) -> None:
        self.default_port = default_port

    def grid_resource(self, entry: Entry) -> str:
        """``arc https://host:port/arex`` from a ``host[:port]`` or full URL gatekeeper."""
        gk = entry.gatekeeper.strip()
        if gk.startswith("https://"):
            return f"arc {gk}"
        hostport = gk if ":" in gk else f"{gk}:{self.default_port}"
        return f"arc https://{hostport}/arex"

    def submit_description(self, entry: Entry, options: Mapping[str, Any]) -> Mapping[str, str]:
        """ADL resource elements for slots, memory, wall time and queue."""
        adl = [
            f"<SlotRequirement><NumberOfSlots>{entry.cpus}</NumberOfSlots></SlotRequirement>",
            f"<IndividualPhysicalMemory>{entry.memory_mb * 1024 * 1024}"
            "</IndividualPhysicalMemory>",
            f"<IndividualCPUTime>{entry.walltime_s * entry.cpus}</IndividualCPUTime>",
            f"<WallTime>{entry.walltime_s}</WallTime>",
        ]
        if entry.queue:
            adl.append(f"<QueueName>{entry.queue}</QueueName>")
        out = glidein_size(entry)
        out["arc_resources"] = "".join(adl)
        return merged(out, entry.submit_attrs)


@hookimpl
def gwms_submission_backends() -> Iterable[SubmissionBackend]:
    """Register the ``arc`` grid type."""
    yield SubmissionBackend(
        name="arc",
        schema=SCHEMA,
        handler=ArcBackend(),
        description="ARC CE via REST (untested on the local grid)",
    )
