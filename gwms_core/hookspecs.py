"""Hook specifications: the contract between the core and its plugins.

Two kinds of hooks:

*Registration hooks* (``gwms_auth_methods``, ``gwms_container_runtimes``,
``gwms_entry_sources``, ``gwms_submission_backends``) are called once when the
plugin registry is built. Each returns an iterable of frozen dataclasses from
:mod:`gwms_core.types`. Every implementation is called; none stops the others.

*Event hooks* (``gwms_glidein_attributes``, ``gwms_match_policy``,
``gwms_submit_attributes``) are where a VO or a site customises behaviour. All
implementations are called and their results combined as each hook describes.

Implement a hook by decorating a function with :data:`gwms_core.hookimpl`; the
function's name must be the hook's name. Types are imported only for checking, so
importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from gwms_core.entries import Entry
    from gwms_core.types import AuthMethod, ContainerRuntime, EntrySource, SubmissionBackend

hookspec = pluggy.HookspecMarker("gwms")

__all__ = [
    "gwms_auth_methods",
    "gwms_container_runtimes",
    "gwms_entry_sources",
    "gwms_glidein_attributes",
    "gwms_match_policy",
    "gwms_submission_backends",
    "gwms_submit_attributes",
    "hookspec",
]


# --------------------------------------------------------------------------- registration


@hookspec
def gwms_auth_methods() -> Iterable[AuthMethod]:
    """Register authentication methods (IDTOKENS, SciTokens, GSI, ...).

    :returns: the :class:`~gwms_core.types.AuthMethod` objects this plugin provides.
        Their names are what an entry's ``auth_method`` and a frontend's
        ``credentials[].type`` refer to.
    """


@hookspec
def gwms_container_runtimes() -> Iterable[ContainerRuntime]:
    """Register container runtimes launched by HTCondor (Apptainer, Singularity).

    :returns: the :class:`~gwms_core.types.ContainerRuntime` objects this plugin
        provides, named as a frontend's ``container.runtime`` refers to them.
    """


@hookspec
def gwms_entry_sources() -> Iterable[EntrySource]:
    """Register sources of factory entries (static YAML, CRIC, OSG collector).

    :returns: the :class:`~gwms_core.types.EntrySource` objects this plugin
        provides, named as a factory's ``entry_sources[].type`` refers to them.
    """


@hookspec
def gwms_submission_backends() -> Iterable[SubmissionBackend]:
    """Register HTCondor-G submission backends (grid types ``condor``, ``batch``, ``arc``).

    :returns: the :class:`~gwms_core.types.SubmissionBackend` objects this plugin
        provides, named as an entry's ``grid_type`` refers to them.
    """


# --------------------------------------------------------------------------- events


@hookspec
def gwms_glidein_attributes(entry: Entry, group: str) -> Mapping[str, str] | None:
    """Add attributes that glideins of ``entry`` requested by frontend ``group`` advertise.

    Called by the frontend when it builds a request. Every implementation is
    called; the mappings are merged. Two plugins setting the same attribute to
    different values is an error naming both plugins.

    :param entry: the factory entry the glideins will run at.
    :param group: the frontend group asking for them.
    :returns: attribute name to ClassAd expression text, or None for nothing.
    """


@hookspec
def gwms_match_policy(group: str) -> str | None:
    """Add a ClassAd expression that jobs of ``group`` must also satisfy to match an entry.

    Called by the frontend when it compiles a group's match expression. Every
    implementation is called; the expressions are combined with ``&&``, so a
    plugin can only narrow matching, never widen it.

    :param group: the frontend group whose match expression is being built.
    :returns: a ClassAd expression over ``job.*`` and ``glidein.*`` attributes, or None.
    """


@hookspec
def gwms_submit_attributes(entry: Entry, frontend: str) -> Mapping[str, str] | None:
    """Add submit-description commands to the glideins the factory submits for ``entry``.

    Called by the factory when it builds a submission. Every implementation is
    called; the mappings are merged over the entry's own ``submit_attrs``. Two
    plugins setting the same command differently is an error naming both.

    :param entry: the entry glideins are submitted to.
    :param frontend: the identity of the frontend whose request is served.
    :returns: submit command to value, or None for nothing.
    """
