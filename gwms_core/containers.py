"""Container policy: the factory entry's setting and the VO's setting, combined.

Both sides say one of ``never``, ``optional``, ``preferred``, ``required``. The
combination (table below, also in docs/containers.md) is a :class:`Mode` the glidein
applies with what it detected on the node:

=============  =========  =========  ==========  ==========
VO \\ entry    never      optional   preferred   required
=============  =========  =========  ==========  ==========
never          NONE       NONE       NONE        CONFLICT
optional       NONE       OPTIONAL   PREFERRED   REQUIRED
preferred      NONE       PREFERRED  PREFERRED   REQUIRED
required       CONFLICT   REQUIRED   REQUIRED    REQUIRED
=============  =========  =========  ==========  ==========

* NONE: jobs never run in a container; the glidein advertises no container support.
* OPTIONAL: only jobs that name an image run in one (when the node can).
* PREFERRED: every job runs in a container (its image or the VO default) when the node
  can; otherwise jobs run without one.
* REQUIRED: every job runs in a container; a node that cannot fails validation, so it
  takes no job (black-hole safe).
* CONFLICT: the two settings cannot both hold; the frontend does not request glideins
  for such an entry.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SETTINGS = ("never", "optional", "preferred", "required")


class Mode(enum.Enum):
    """What the combined policy asks of the glidein."""

    NONE = "none"
    OPTIONAL = "optional"
    PREFERRED = "preferred"
    REQUIRED = "required"
    CONFLICT = "conflict"


_RANK = {"optional": 1, "preferred": 2, "required": 3}


def combine(vo: str, entry: str) -> Mode:
    """The mode for a VO setting and an entry setting (see the module table)."""
    for side, value in (("VO", vo), ("entry", entry)):
        if value not in SETTINGS:
            raise ValueError(f"{side} container policy {value!r} is not one of {SETTINGS}")
    if "never" in (vo, entry):
        return Mode.CONFLICT if "required" in (vo, entry) else Mode.NONE
    return Mode(max((vo, entry), key=_RANK.__getitem__))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the glidein does with the mode and what it detected."""

    use_container: bool
    advertise: bool
    validation_ok: bool
    reason: str


def on_node(mode: Mode, runtime_works: bool) -> Outcome:
    """Apply ``mode`` on a node where the runtime test passed (``runtime_works``) or not."""
    if mode is Mode.CONFLICT:
        return Outcome(False, False, False, "VO and entry container policies conflict")
    if mode is Mode.NONE:
        return Outcome(False, False, True, "containers disabled by policy")
    if not runtime_works:
        if mode is Mode.REQUIRED:
            return Outcome(False, False, False,
                           "container required but the runtime does not work on this node")
        return Outcome(False, False, True, "no working container runtime; jobs run plain")
    if mode is Mode.OPTIONAL:
        return Outcome(False, True, True, "jobs that name an image run in it")
    return Outcome(True, True, True, f"container {mode.value}: every job runs in one")


# --------------------------------------------------------------------------- VO -> glidein

#: Glidein parameters the VO's container settings travel in (``GlideinParam<name>`` in
#: the frontend's request ads, ``--param NAME=VALUE`` on the glidein's command line).
PARAM_VO_POLICY = "GLIDEIN_Singularity_Use"
PARAM_ENTRY_POLICY = "GLIDEIN_SINGULARITY_REQUIRE"
PARAM_IMAGES = "SINGULARITY_IMAGES_DICT"
PARAM_ALLOWED = "GLIDEIN_CONTAINER_ALLOWED_PREFIXES"
PARAM_BINDS = "GLIDEIN_CONTAINER_BINDS"
PARAM_TARGET_DIR = "GLIDEIN_CONTAINER_TARGET_DIR"
PARAM_EXTRA_ARGS = "GLIDEIN_CONTAINER_EXTRA_ARGS"
PARAM_BINARY = "GLIDEIN_SINGULARITY_BINARY"

#: Allow-list used when the VO gives none.
DEFAULT_ALLOWED_PREFIXES = ("/cvmfs/",)


def glidein_params(container: Mapping[str, Any]) -> dict[str, str]:
    """The glidein parameters for a frontend's ``container`` section (policy and runtime
    options, as validated by the frontend schema).

    Lists are joined with commas, so no item may contain one; the image map becomes
    ``os:image,os:image``. Raises :class:`ValueError` on a value the glidein could not
    read back.
    """
    policy = str(container.get("policy", "optional"))
    if policy not in SETTINGS:
        raise ValueError(f"container policy {policy!r} is not one of {SETTINGS}")
    out = {PARAM_VO_POLICY: policy}
    images: Mapping[str, str] = container.get("default_images", {})
    items = []
    for os_name, image in sorted(images.items()):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", os_name):
            raise ValueError(f"default_images: OS name {os_name!r} is not [A-Za-z0-9_.-]+")
        _one_item("default_images", image)
        items.append(f"{os_name}:{image}")
    if items:
        out[PARAM_IMAGES] = ",".join(items)
    allowed = container.get("allowed_image_prefixes", list(DEFAULT_ALLOWED_PREFIXES))
    binds = container.get("binds", [])
    for key, values in (("allowed_image_prefixes", allowed), ("binds", binds)):
        for value in values:
            _one_item(key, value)
    out[PARAM_ALLOWED] = ",".join(allowed)
    if binds:
        out[PARAM_BINDS] = ",".join(binds)
    for key, param in (("target_dir", PARAM_TARGET_DIR), ("extra_arguments", PARAM_EXTRA_ARGS),
                       ("binary", PARAM_BINARY)):
        value = str(container.get(key, "") or "")
        if "\n" in value or "\r" in value:
            raise ValueError(f"{key}: value must be one line")
        if value:
            out[param] = value
    return out


def _one_item(key: str, value: str) -> None:
    if not value or "," in value or any(c in value for c in "\n\r"):
        raise ValueError(f"{key}: {value!r} must be one non-empty line without ','")


# --------------------------------------------------------------------------- startd knobs


@dataclass(frozen=True, slots=True)
class StartdSpec:
    """What the glidein found and was told, for :func:`startd_config`.

    ``images`` are the reachable images by OS name (``default``: any OS).
    """

    use: bool
    mode: Mode
    binary: str = "apptainer"
    images: Mapping[str, str] = field(default_factory=dict)
    allowed_prefixes: tuple[str, ...] = DEFAULT_ALLOWED_PREFIXES
    binds: tuple[str, ...] = ()
    target_dir: str = "/srv"
    extra_arguments: str = ""
    #: The runtime runs without a setuid starter (user namespaces): condor_ssh_to_job
    #: must then enter only the user namespace (``SINGULARITY_IS_SETUID = False``).
    unprivileged: bool = True
    #: The runtime can give each job its own PID namespace; condor_ssh_to_job needs it
    #: (HTCondor's nsenter joins the job's PID namespace, allowed only for one owned by
    #: the job's user namespace).
    pid_namespaces: bool = False


def classad_string(text: str) -> str:
    """``text`` as a ClassAd string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def image_expr(images: Mapping[str, str]) -> str:
    """The job's image: its ``SingularityImage``, else the image of its ``REQUIRED_OS``,
    else the ``default`` image, else undefined."""
    inner = classad_string(images["default"]) if "default" in images else "undefined"
    for os_name in sorted((k for k in images if k != "default"), reverse=True):
        inner = (f"ifThenElse(TARGET.REQUIRED_OS =?= {classad_string(os_name)}, "
                 f"{classad_string(images[os_name])}, {inner})")
    return f"ifThenElse(isString(TARGET.SingularityImage), TARGET.SingularityImage, {inner})"


def allowed_expr(prefixes: Sequence[str]) -> str:
    """True when ``$(GWMS_CONTAINER_IMAGE)`` is a string starting with one of
    ``prefixes`` (``*``: any) and containing no ``..`` (case-sensitive ``=?=``)."""
    img = "$(GWMS_CONTAINER_IMAGE)"
    terms = [f"(substr({img}, 0, {len(p)}) =?= {classad_string(p)})"
             for p in prefixes if p and p != "*"]
    test = "true" if "*" in prefixes else (" || ".join(terms) or "false")
    return f'(isString({img}) && !regexp("[.][.]", {img}) && ({test}))'


def strip_nv(arguments: str) -> str:
    """``arguments`` without ``--nv``/``-nv``: HTCondor adds ``--nv`` itself for a slot
    with ``AssignedGPUs``, so a VO's own ``--nv`` would reach jobs without GPUs."""
    return " ".join(a for a in arguments.split() if a not in ("--nv", "-nv"))


def startd_config(spec: StartdSpec) -> dict[str, str]:
    """The startd knobs (in order) that make HTCondor launch jobs in the container.

    The same rendering as ``gwms_container_config`` in ``glidein/lib/container.sh``
    (a test compares the two). ``START`` is an addition: ``$(START) && ...``.
    """
    if not spec.use:
        return {"SINGULARITY_JOB": "false",
                "START": "$(START) && (TARGET.SingularityImage =?= undefined)"}
    own = "isString(TARGET.SingularityImage)"
    resolved = "isString($(GWMS_CONTAINER_IMAGE))"
    allowed = "$(GWMS_CONTAINER_IMAGE_ALLOWED)"
    if spec.mode is Mode.OPTIONAL:
        job, gate = own, f"(!{own} || {allowed})"
    elif spec.mode is Mode.REQUIRED:
        job, gate = resolved, allowed
    else:
        job, gate = resolved, f"(!{resolved} || {allowed})"
    return {
        "SINGULARITY": spec.binary,
        "GWMS_CONTAINER_IMAGE": image_expr(spec.images),
        "GWMS_CONTAINER_IMAGE_ALLOWED": allowed_expr(spec.allowed_prefixes),
        "SINGULARITY_IMAGE_EXPR": "$(GWMS_CONTAINER_IMAGE)",
        "SINGULARITY_JOB": job,
        "START": f"$(START) && {gate}",
        "SINGULARITY_TARGET_DIR": spec.target_dir or "/srv",
        "SINGULARITY_BIND_EXPR": classad_string(" ".join(spec.binds)),
        "SINGULARITY_EXTRA_ARGUMENTS": classad_string(strip_nv(spec.extra_arguments)),
        "SINGULARITY_USE_PID_NAMESPACES": "True" if spec.pid_namespaces else "False",
        "SINGULARITY_IS_SETUID": "False" if spec.unprivileged else "True",
        "SINGULARITY_IGNORE_MISSING_BIND_TARGET": "True",
    }
