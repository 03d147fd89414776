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
from dataclasses import dataclass

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
