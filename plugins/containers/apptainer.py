"""Container runtimes ``apptainer`` and ``singularity``, launched by HTCondor itself.

HTCondor's startd runs a job inside an image when its ``SINGULARITY_JOB``
expression is true, taking the image from ``SINGULARITY_IMAGE_EXPR``; the
starter then execs the runtime, so ``condor_ssh_to_job``, signals and
accounting keep working. This plugin renders those knobs from the VO's options.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gwms_core import hookimpl
from gwms_core.containers import (
    DEFAULT_ALLOWED_PREFIXES,
    Mode,
    StartdSpec,
    combine,
    glidein_params,
    startd_config,
)
from gwms_core.types import ContainerRuntime

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Apptainer/Singularity launched by the glidein's startd.",
    "additionalProperties": False,
    "properties": {
        "binary": {"type": "string", "description": "Path; default: found on the node."},
        "default_images": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Default image per OS (e.g. rhel9: /cvmfs/.../el9:latest).",
        },
        "allowed_image_prefixes": {
            "type": "array", "items": {"type": "string"},
            "default": ["/cvmfs/"],
            "description": "Images must start with one of these.",
        },
        "binds": {"type": "array", "items": {"type": "string"}, "default": [],
                  "description": "Bind specs src[:dst[:opts]] (SINGULARITY_BIND_EXPR)."},
        "target_dir": {"type": "string", "default": "/srv"},
        "extra_arguments": {"type": "string", "default": "",
                            "description": "Extra runtime arguments; --nv is dropped "
                                           "(HTCondor adds it for jobs given GPUs)."},
    },
}


class HTCondorLaunched:
    """Startd configuration for container jobs (rendered on the glidein by
    ``glidein/lib/container.sh``; :func:`gwms_core.containers.startd_config` is the same
    rendering in Python)."""

    def __init__(self, binary_name: str) -> None:
        self.binary_name = binary_name

    def startd_config(self, options: Mapping[str, Any]) -> Mapping[str, str]:
        """Knobs for a node where every configured image runs, with the VO's policy."""
        policy = str(options.get("policy", "preferred"))
        mode = combine(policy, "optional") if policy != "never" else Mode.NONE
        spec = StartdSpec(
            use=mode is not Mode.NONE, mode=mode,
            binary=str(options.get("binary") or self.binary_name),
            images=dict(options.get("default_images", {})),
            allowed_prefixes=tuple(options.get("allowed_image_prefixes",
                                               DEFAULT_ALLOWED_PREFIXES)),
            binds=tuple(options.get("binds", ())),
            target_dir=str(options.get("target_dir", "/srv")),
            extra_arguments=str(options.get("extra_arguments", "")))
        return startd_config(spec)

    def glidein_params(self, options: Mapping[str, Any]) -> Mapping[str, str]:
        """The glidein parameters carrying the VO's settings (frontend -> glidein)."""
        return glidein_params(options)


@hookimpl
def gwms_container_runtimes() -> Iterable[ContainerRuntime]:
    """Register ``apptainer`` and its older name ``singularity``."""
    yield ContainerRuntime(name="apptainer", schema=SCHEMA,
                           handler=HTCondorLaunched("apptainer"),
                           description="Apptainer launched by HTCondor's startd")
    yield ContainerRuntime(name="singularity", schema=SCHEMA,
                           handler=HTCondorLaunched("singularity"),
                           description="Singularity launched by HTCondor's startd")
