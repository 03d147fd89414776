"""Submit commands every HTCondor-G backend shares."""

from __future__ import annotations

from collections.abc import Mapping

from gwms_core.entries import Entry


def glidein_size(entry: Entry) -> dict[str, str]:
    """Local request_* commands describing one glidein of ``entry``."""
    out = {
        "request_cpus": str(entry.cpus),
        "request_memory": str(entry.memory_mb),
    }
    if entry.gpus:
        out["request_gpus"] = str(entry.gpus)
    return out


def merged(*parts: Mapping[str, str]) -> dict[str, str]:
    """Later mappings override earlier ones."""
    out: dict[str, str] = {}
    for part in parts:
        out.update(part)
    return out
