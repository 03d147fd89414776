"""The one plugin manager: built-ins first, then the ``gwms`` entry-point group.

:func:`get_registry` is what the rest of the code uses. It returns a
:class:`PluginRegistry`: every registered auth method, container runtime, entry
source and submission backend by name, with the distribution that provided it,
plus the plugins that failed to load (reported, never fatal for the others).

Environment:

* ``GWMS_DISABLE_PLUGINS=a,b``: skip plugins by module/entry-point name or by the
  name of what they register (``cric``, ``gsi``, ...).
* ``GWMS_NO_EXTERNAL_PLUGINS=1``: load only the built-in plugins.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import jsonschema
import pluggy

from gwms_core import __version__, defaults, hookspecs
from gwms_core.types import (
    AuthMethod,
    ContainerRuntime,
    EntrySource,
    Family,
    PluginDefinitionError,
    Registration,
    SubmissionBackend,
)

#: Built-in plugin modules, registered before any entry point.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "gwms_plugins.auth.idtokens",
    "gwms_plugins.auth.scitokens",
    "gwms_plugins.auth.gsi",
    "gwms_plugins.containers.apptainer",
    "gwms_plugins.entry_sources.static",
    "gwms_plugins.entry_sources.cric",
    "gwms_plugins.entry_sources.osg",
    "gwms_plugins.backends.condor",
    "gwms_plugins.backends.batch",
    "gwms_plugins.backends.arc",
)

BUILTIN_DISTRIBUTION = "gwms"

_REGISTRATION_HOOKS: dict[Family, tuple[str, type[Any]]] = {
    Family.AUTH: ("gwms_auth_methods", AuthMethod),
    Family.CONTAINER: ("gwms_container_runtimes", ContainerRuntime),
    Family.ENTRY_SOURCE: ("gwms_entry_sources", EntrySource),
    Family.BACKEND: ("gwms_submission_backends", SubmissionBackend),
}


class PluginError(Exception):
    """The plugin set is unusable (for example two plugins register the same name)."""


@dataclass(frozen=True, slots=True)
class Provider:
    """Where a registration came from."""

    plugin: str
    distribution: str
    version: str


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered feature, as ``gwms plugins list`` shows it."""

    name: str
    family: Family
    provider: Provider
    description: str
    registration: Registration = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class BrokenPlugin:
    """A plugin that could not be loaded or whose registration hook failed."""

    plugin: str
    distribution: str
    error: str


@dataclass(slots=True)
class PluginRegistry:
    """Everything the loaded plugins provide, by family and name."""

    manager: pluggy.PluginManager
    features: dict[Family, dict[str, PluginInfo]]
    broken: list[BrokenPlugin]
    disabled: frozenset[str]

    def names(self, family: Family) -> list[str]:
        """Sorted names of the enabled features of ``family``."""
        return sorted(self.features[family])

    def get(self, family: Family, name: str) -> Registration:
        """The registration of ``name`` in ``family``; KeyError naming the choices."""
        try:
            return self.features[family][name].registration
        except KeyError:
            known = ", ".join(self.names(family)) or "none"
            raise KeyError(f"no {family} plugin named {name!r} (known: {known})") from None

    def all(self) -> list[PluginInfo]:
        """Every enabled feature, sorted by family then name."""
        order = list(Family)
        return sorted(
            (info for fam in self.features.values() for info in fam.values()),
            key=lambda i: (order.index(i.family), i.name),
        )

    # ----------------------------------------------------------------- event hooks

    def glidein_attributes(self, entry: Any, group: str) -> dict[str, str]:
        """Merged result of ``gwms_glidein_attributes``; conflicts raise PluginError."""
        return self._merge("gwms_glidein_attributes", entry=entry, group=group)

    def submit_attributes(self, entry: Any, frontend: str) -> dict[str, str]:
        """Merged result of ``gwms_submit_attributes``; conflicts raise PluginError."""
        return self._merge("gwms_submit_attributes", entry=entry, frontend=frontend)

    def match_policy(self, group: str) -> list[str]:
        """Expressions from ``gwms_match_policy`` to AND into ``group``'s match."""
        out: list[str] = []
        for impl in self.manager.hook.gwms_match_policy.get_hookimpls():
            expr = impl.function(**_args(impl, {"group": group}))
            if expr:
                out.append(str(expr))
        return out

    def _merge(self, hook: str, **kwargs: Any) -> dict[str, str]:
        merged: dict[str, str] = {}
        origin: dict[str, str] = {}
        for impl in getattr(self.manager.hook, hook).get_hookimpls():
            result: Mapping[str, Any] | None = impl.function(**_args(impl, kwargs))
            for key, value in (result or {}).items():
                text = str(value)
                if key in merged and merged[key] != text:
                    raise PluginError(
                        f"{hook}: plugins {origin[key]!r} and {impl.plugin_name!r} both set "
                        f"{key!r}, to {merged[key]!r} and {text!r}"
                    )
                merged[key] = text
                origin[key] = impl.plugin_name
        return merged


def _args(impl: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Pass an implementation only the arguments it declares (pluggy's rule)."""
    return {name: kwargs[name] for name in impl.argnames if name in kwargs}


def _disabled_from_env() -> frozenset[str]:
    raw = os.environ.get(defaults.ENV_DISABLE_PLUGINS, "")
    return frozenset(n.strip().lower() for n in raw.split(",") if n.strip())


def _external_allowed() -> bool:
    return os.environ.get(defaults.ENV_NO_EXTERNAL_PLUGINS, "").strip() not in ("1", "true", "yes")


def _dist_of(ep: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"] or "?", dist.version


def _load_plugins(
    pm: pluggy.PluginManager,
    disabled: frozenset[str],
    external: bool,
    broken: list[BrokenPlugin],
) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for modname in BUILTIN_PLUGINS:
        short = modname.rsplit(".", 1)[-1]
        if modname in disabled or short in disabled:
            continue
        try:
            module: ModuleType = importlib.import_module(modname)
        except Exception as exc:  # a built-in that fails is reported like any other
            broken.append(BrokenPlugin(modname, BUILTIN_DISTRIBUTION, _describe(exc)))
            continue
        pm.register(module, name=modname)
        providers[modname] = Provider(modname, BUILTIN_DISTRIBUTION, __version__)
    if not external:
        return providers
    for ep in importlib.metadata.entry_points(group=defaults.ENTRY_POINT_GROUP):
        dist, version = _dist_of(ep)
        if ep.name.lower() in disabled:
            continue
        if ep.name in providers:
            raise PluginError(
                f"two plugins are named {ep.name!r}: from distributions "
                f"{providers[ep.name].distribution!r} and {dist!r}"
            )
        try:
            obj = ep.load()
            pm.register(obj, name=ep.name)
        except Exception as exc:  # third-party code: report, keep the others
            broken.append(BrokenPlugin(ep.name, dist, _describe(exc)))
            continue
        providers[ep.name] = Provider(ep.name, dist, version)
    return providers


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _collect(
    pm: pluggy.PluginManager,
    providers: Mapping[str, Provider],
    disabled: frozenset[str],
    broken: list[BrokenPlugin],
) -> dict[Family, dict[str, PluginInfo]]:
    features: dict[Family, dict[str, PluginInfo]] = {fam: {} for fam in Family}
    for family, (hook_name, cls) in _REGISTRATION_HOOKS.items():
        hook_caller = getattr(pm.hook, hook_name)
        # Call implementations one by one so each result is attributed to its plugin.
        for impl in hook_caller.get_hookimpls():
            provider = providers[impl.plugin_name]
            try:
                items = list(_as_iterable(impl.function()))
                for item in items:
                    if not isinstance(item, cls):
                        raise PluginDefinitionError(
                            f"{hook_name} returned {type(item).__name__}, "
                            f"expected {cls.__name__}"
                        )
                    jsonschema.Draft202012Validator.check_schema(dict(item.schema))
            except Exception as exc:
                broken.append(
                    BrokenPlugin(impl.plugin_name, provider.distribution, _describe(exc))
                )
                continue
            for item in items:
                if item.name in disabled:
                    continue
                if item.name in features[family]:
                    first = features[family][item.name].provider
                    raise PluginError(
                        f"{family} plugin {item.name!r} is registered twice: by "
                        f"{first.plugin!r} from distribution {first.distribution!r} and by "
                        f"{provider.plugin!r} from distribution {provider.distribution!r}; "
                        f"uninstall one or disable it with {defaults.ENV_DISABLE_PLUGINS}"
                    )
                features[family][item.name] = PluginInfo(
                    item.name, family, provider, item.description, item
                )
    return features


def _as_iterable(result: object) -> Iterable[Any]:
    if result is None:
        return ()
    if isinstance(result, Iterable) and not isinstance(result, str | bytes):
        return result
    return (result,)


def build_registry(
    *, disabled: Iterable[str] = (), external: bool | None = None
) -> PluginRegistry:
    """Build a fresh registry (uncached). Prefer :func:`get_registry`."""
    off = _disabled_from_env() | {d.lower() for d in disabled}
    pm = pluggy.PluginManager("gwms")
    pm.add_hookspecs(hookspecs)
    broken: list[BrokenPlugin] = []
    providers = _load_plugins(pm, off, _external_allowed() if external is None else external,
                              broken)
    pm.check_pending()
    features = _collect(pm, providers, off, broken)
    return PluginRegistry(pm, features, broken, off)


@functools.cache
def _cached(disabled: frozenset[str], external: bool | None) -> PluginRegistry:
    return build_registry(disabled=disabled, external=external)


def get_registry(
    *, disabled: Iterable[str] = (), external: bool | None = None
) -> PluginRegistry:
    """The process-wide registry for this set of disabled names (cached)."""
    return _cached(frozenset(d.lower() for d in disabled), external)


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager behind :func:`get_registry`."""
    return get_registry().manager


def clear_cache() -> None:
    """Forget cached registries (tests, and after installing a plugin)."""
    _cached.cache_clear()

