"""gwms: the core of a pilot-based workload management system for HTCondor.

The core is small: hook specifications (:mod:`gwms_core.hookspecs`), the plugin
dataclasses (:mod:`gwms_core.types`), one plugin manager (:mod:`gwms_core.manager`),
configuration loading and validation (:mod:`gwms_core.config`) and the ``gwms``
command (:mod:`gwms_core.cli`). Everything that talks to a site, a credential
store or a container runtime is a plugin.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Marker for hook implementations. Plugins decorate their functions with it.
hookimpl = pluggy.HookimplMarker("gwms")

__all__ = ["__version__", "hookimpl"]
