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
        "binds": {"type": "array", "items": {"type": "string"}, "default": []},
        "target_dir": {"type": "string", "default": "/srv"},
        "extra_arguments": {"type": "string", "default": ""},
    },
}


def _classad_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class HTCondorLaunched:
    """Startd configuration for container jobs."""

    def __init__(self, binary_name: str) -> None:
        self.binary_name = binary_name

    def startd_config(self, options: Mapping[str, Any]) -> Mapping[str, str]:
        """Knobs: which jobs run in a container, which image, binds, target dir, GPUs."""
        defaults: Mapping[str, str] = options.get("default_images", {})
        image = "TARGET.ContainerImage"
        if defaults:
            by_os = " : ".join(
                f"(MY.GLIDEIN_OS =?= {_classad_string(os)}) ? {_classad_string(img)}"
                for os, img in sorted(defaults.items())
            )
            image = f"ifThenElse(isUndefined(TARGET.ContainerImage), ({by_os} : undefined), " \
                    "TARGET.ContainerImage)"
        allowed = options.get("allowed_image_prefixes", ["/cvmfs/"])
        allow = " || ".join(
            f"substr(SINGULARITY_IMAGE_EXPR_VALUE, 0, {len(p)}) == {_classad_string(p)}"
            for p in allowed
        ) or "true"
        extra = str(options.get("extra_arguments", ""))
        out = {
            "SINGULARITY": str(options.get("binary") or self.binary_name),
            "SINGULARITY_JOB": "!isUndefined(SINGULARITY_IMAGE_EXPR)",
            "SINGULARITY_IMAGE_EXPR": image,
            "SINGULARITY_TARGET_DIR": str(options.get("target_dir", "/srv")),
            "SINGULARITY_BIND_EXPR": _classad_string(",".join(options.get("binds", []))),
            "SINGULARITY_EXTRA_ARGUMENTS": extra,
            "SINGULARITY_USE_PID_NAMESPACES": "False",
            "GWMS_CONTAINER_IMAGE_ALLOWED": allow,
        }
        return out


@hookimpl
def gwms_container_runtimes() -> Iterable[ContainerRuntime]:
    """Register ``apptainer`` and its older name ``singularity``."""
    yield ContainerRuntime(name="apptainer", schema=SCHEMA,
                           handler=HTCondorLaunched("apptainer"),
                           description="Apptainer launched by HTCondor's startd")
    yield ContainerRuntime(name="singularity", schema=SCHEMA,
                           handler=HTCondorLaunched("singularity"),
                           description="Singularity launched by HTCondor's startd")
