"""Grid type ``condor``: HTCondor-C to an HTCondor-CE or any remote schedd.

``grid_resource = condor <schedd> <collector>``. For an HTCondor-CE the schedd
and collector are the CE host and its port (9619 by default); the CE's job
router reads the glidein size from ``xcount``, ``maxMemory`` (MB) and
``maxWallTime`` (minutes), and the batch queue from ``queue``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gwms_core import hookimpl
from gwms_core.entries import Entry
from gwms_core.types import SubmissionBackend

from ._common import glidein_size, merged

DEFAULT_CE_PORT = 9619

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Options of the condor grid type (HTCondor-CE, remote schedd).",
    "additionalProperties": False,
    "properties": {
        "default_port": {
            "type": "integer", "minimum": 1, "maximum": 65535, "default": DEFAULT_CE_PORT,
            "description": "Collector port used when an entry's gatekeeper names none.",
        },
        "ce_attributes": {
            "type": "boolean", "default": True,
            "description": "Send HTCondor-CE routing attributes (xcount, maxMemory, ...).",
        },
    },
}


class CondorBackend:
    """Builds grid-universe submissions for HTCondor-C."""

    def __init__(self, default_port: int = DEFAULT_CE_PORT) -> None:
        self.default_port = default_port

    def grid_resource(self, entry: Entry) -> str:
        """``condor <schedd> <collector>`` from the entry's ``host[:port]`` gatekeeper.

        A gatekeeper of the form ``schedd-name@host:port`` names the remote schedd
        explicitly (a schedd that is not the host's default one).
        """
        gk = entry.gatekeeper.strip()
        if " " in gk:  # already "schedd collector"
            schedd, collector = gk.split(None, 1)
            return f"condor {schedd} {collector.strip()}"
        schedd_name, _, hostport = gk.rpartition("@")
        host = hostport.split(":", 1)[0]
        collector = hostport if ":" in hostport else f"{hostport}:{self.default_port}"
        return f"condor {schedd_name + '@' + host if schedd_name else host} {collector}"

    def submit_description(self, entry: Entry, options: Mapping[str, Any]) -> Mapping[str, str]:
        """Size commands plus, for a CE, the routing attributes it reads."""
        out = glidein_size(entry)
        if options.get("ce_attributes", True):
            out.update({
                "+xcount": str(entry.cpus),
                "+maxMemory": str(entry.memory_mb),
                "+maxWallTime": str(max(1, entry.walltime_s // 60)),
            })
            if entry.queue:
                out["+queue"] = f'"{entry.queue}"'
        return merged(out, entry.submit_attrs)


@hookimpl
def gwms_submission_backends() -> Iterable[SubmissionBackend]:
    """Register the ``condor`` grid type."""
    yield SubmissionBackend(
        name="condor",
        schema=SCHEMA,
        handler=CondorBackend(),
        description="HTCondor-C to an HTCondor-CE or a remote schedd",
    )
