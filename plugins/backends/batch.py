"""Grid type ``batch``: blahp to Slurm, PBS, LSF, SGE or HTCondor.

``grid_resource = batch <system> [user@login-host]``. Without a login host the
factory's schedd runs the batch client itself (it must be a client of the site);
with one, blahp reaches the site over ssh, as BOSCO does. blahp passes
``batch_queue``, ``batch_runtime`` (seconds) and the request_* sizes on to the
batch system.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gwms_core import hookimpl
from gwms_core.entries import Entry
from gwms_core.types import SubmissionBackend

from ._common import glidein_size, merged

BATCH_SYSTEMS = ("slurm", "pbs", "lsf", "sge", "condor")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Options of the batch grid type (blahp).",
    "additionalProperties": False,
    "properties": {
        "default_batch_system": {"enum": list(BATCH_SYSTEMS), "default": "slurm"},
    },
}


class BatchBackend:
    """Builds grid-universe submissions for blahp."""

    def __init__(self, default_system: str = "slurm") -> None:
        self.default_system = default_system

    def grid_resource(self, entry: Entry) -> str:
        """``batch <system>`` plus ``user@host`` unless the gatekeeper is ``local``."""
        system = entry.batch_system or self.default_system
        gk = entry.gatekeeper.strip()
        if gk in ("", "local", "localhost"):
            return f"batch {system}"
        return f"batch {system} {gk}"

    def submit_description(self, entry: Entry, options: Mapping[str, Any]) -> Mapping[str, str]:
        """Size, queue and wall time for the site's batch system."""
        out = glidein_size(entry)
        out["batch_runtime"] = str(entry.walltime_s)
        if entry.queue:
            out["batch_queue"] = entry.queue
        return merged(out, entry.submit_attrs)


@hookimpl
def gwms_submission_backends() -> Iterable[SubmissionBackend]:
    """Register the ``batch`` grid type."""
    yield SubmissionBackend(
        name="batch",
        schema=SCHEMA,
        handler=BatchBackend(),
        description="blahp to Slurm/PBS/LSF/SGE, locally or over ssh",
    )
