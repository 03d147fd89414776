"""Factory entries: where glideins go and what they look like.

An :class:`Entry` is what every entry-source plugin produces and every
submission backend consumes. Its JSON Schema (:data:`ENTRY_SCHEMA`) is the
contract for the static entry file and for generated entry files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gwms_core import defaults


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class EntryLimits:
    """Per-entry limits, and the per-frontend share of them."""

    max_glideins: int = defaults.ENTRY_MAX_GLIDEINS
    max_idle: int = defaults.ENTRY_MAX_IDLE
    max_held: int = defaults.ENTRY_MAX_HELD
    per_frontend_max_glideins: int = defaults.FRONTEND_MAX_GLIDEINS
    per_frontend_max_idle: int = defaults.FRONTEND_MAX_IDLE
    per_frontend_max_held: int = defaults.FRONTEND_MAX_HELD


@dataclass(frozen=True, slots=True)
class Entry:
    """One factory entry: a queue at a site reached through one grid type."""

    name: str
    grid_type: str
    gatekeeper: str
    site: str
    cpus: int = defaults.ENTRY_CPUS
    memory_mb: int = defaults.ENTRY_CPUS * defaults.ENTRY_MEMORY_MB_PER_CPU
    walltime_s: int = defaults.ENTRY_WALLTIME_SECONDS
    gpus: int = defaults.ENTRY_GPUS
    batch_system: str = ""
    queue: str = ""
    os: str = ""
    auth_method: str = defaults.ENTRY_AUTH_METHOD
    allowed_frontends: tuple[str, ...] = ()
    in_downtime: bool = False
    limits: EntryLimits = field(default_factory=EntryLimits)
    submit_attrs: Mapping[str, str] = field(default_factory=_empty)
    attrs: Mapping[str, str] = field(default_factory=_empty)

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> Entry:
        """Build an entry from one validated item of an entry file."""
        cpus = int(data.get("cpus", defaults.ENTRY_CPUS))
        limits = EntryLimits(**dict(data.get("limits", {})))
        return cls(
            name=name,
            grid_type=str(data["grid_type"]),
            gatekeeper=str(data["gatekeeper"]),
            site=str(data["site"]),
            cpus=cpus,
            memory_mb=int(data.get("memory_mb", cpus * defaults.ENTRY_MEMORY_MB_PER_CPU)),
            walltime_s=int(data.get("walltime_s", defaults.ENTRY_WALLTIME_SECONDS)),
            gpus=int(data.get("gpus", defaults.ENTRY_GPUS)),
            batch_system=str(data.get("batch_system", "")),
            queue=str(data.get("queue", "")),
            os=str(data.get("os", "")),
            auth_method=str(data.get("auth_method", defaults.ENTRY_AUTH_METHOD)),
            allowed_frontends=tuple(data.get("allowed_frontends", ())),
            in_downtime=bool(data.get("in_downtime", False)),
            limits=limits,
            submit_attrs=MappingProxyType({k: str(v) for k, v in
                                           data.get("submit_attrs", {}).items()}),
            attrs=MappingProxyType({k: str(v) for k, v in data.get("attrs", {}).items()}),
        )


_POS_INT = {"type": "integer", "minimum": 0}
_ATTR_MAP = {
    "type": "object",
    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_.+-]*$"},
    "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
}

#: JSON Schema of one entry in an entry file (``entries:`` mapping values).
ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One factory entry: a queue at a site reached through one grid type.",
    "required": ["grid_type", "gatekeeper", "site"],
    "additionalProperties": False,
    "properties": {
        "grid_type": {
            "type": "string",
            "description": "Submission backend plugin name (condor, batch, arc, ...).",
        },
        "gatekeeper": {
            "type": "string",
            "minLength": 1,
            "description": "CE host[:port], remote schedd, or user@login-host for batch.",
        },
        "site": {"type": "string", "minLength": 1, "description": "Site name (GLIDEIN_Site)."},
        "cpus": {"type": "integer", "minimum": 1, "default": defaults.ENTRY_CPUS},
        "memory_mb": {"type": "integer", "minimum": 1,
                      "description": "Memory per glidein; default 2000 MB per CPU."},
        "walltime_s": {"type": "integer", "minimum": 60,
                       "default": defaults.ENTRY_WALLTIME_SECONDS},
        "gpus": {**_POS_INT, "default": defaults.ENTRY_GPUS},
        "batch_system": {"enum": ["", "slurm", "pbs", "lsf", "sge", "condor"],
                         "description": "For grid_type batch: the site's batch system."},
        "queue": {"type": "string"},
        "os": {"type": "string", "description": "Operating system, e.g. rhel9."},
        "auth_method": {"type": "string", "default": defaults.ENTRY_AUTH_METHOD},
        "allowed_frontends": {"type": "array", "items": {"type": "string"},
                              "uniqueItems": True,
                              "description": "Frontend identities served; empty = none."},
        "in_downtime": {"type": "boolean", "default": False},
        "limits": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_glideins": {**_POS_INT, "default": defaults.ENTRY_MAX_GLIDEINS},
                "max_idle": {**_POS_INT, "default": defaults.ENTRY_MAX_IDLE},
                "max_held": {**_POS_INT, "default": defaults.ENTRY_MAX_HELD},
                "per_frontend_max_glideins": {**_POS_INT,
                                              "default": defaults.FRONTEND_MAX_GLIDEINS},
                "per_frontend_max_idle": {**_POS_INT, "default": defaults.FRONTEND_MAX_IDLE},
                "per_frontend_max_held": {**_POS_INT, "default": defaults.FRONTEND_MAX_HELD},
            },
        },
        "submit_attrs": {**_ATTR_MAP, "description": "Extra submit commands for glideins."},
        "attrs": {**_ATTR_MAP, "description": "Attributes advertised for the entry."},
    },
}
