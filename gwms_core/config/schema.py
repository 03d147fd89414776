"""JSON Schemas (2020-12) of the configuration files, composed from the core and plugins.

Three kinds of file, told apart by their ``kind`` key:

* ``factory``: the factory service (entry sources, backends, auth, limits),
* ``frontend``: a VO frontend (user pools, groups, credentials, container policy),
* ``entries``: a static entry file (what the ``static`` source reads and
  ``gwms entries generate`` writes).

Plugin options are composed in: a list item with ``type: <plugin>`` is validated
against that plugin's schema, and an unknown ``type`` is an error listing the
known ones. ``gwms schema --write docs/schema`` writes the composed schemas for
the built-in plugin set; a test fails when the committed files drift.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gwms_core import defaults
from gwms_core.entries import ENTRY_SCHEMA
from gwms_core.manager import PluginRegistry
from gwms_core.types import Family

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS = ("factory", "frontend", "entries")

_NAME = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.-]{0,127}$"}
_HOSTPORT = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9_.-]+(:[0-9]{1,5})?$",
    "description": "host[:port] of an HTCondor collector or schedd",
}
_POS_INT = {"type": "integer", "minimum": 0}
_PLUGINS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "disable": {
            "type": "array",
            "items": {"type": "string"},
            "uniqueItems": True,
            "description": "Plugin names not to load (as GWMS_DISABLE_PLUGINS).",
        },
    },
}


def _plugin_def(name: str, plugin_schema: Mapping[str, Any], discriminator: str | None,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A plugin's option schema with the discriminator (and core keys) merged in."""
    out = copy.deepcopy(dict(plugin_schema))
    props: dict[str, Any] = {discriminator: {"const": name}} if discriminator else {}
    props.update(copy.deepcopy(dict(extra or {})))
    props.update(out.get("properties", {}))
    out["type"] = "object"
    out["properties"] = props
    out.setdefault("additionalProperties", False)
    return out


def _discriminated(registry: PluginRegistry, family: Family, prefix: str, discriminator: str,
                   defs: dict[str, Any], extra: Mapping[str, Any] | None = None,
                   required_extra: tuple[str, ...] = ()) -> dict[str, Any]:
    names = registry.names(family)
    branches = []
    for name in names:
        reg = registry.get(family, name)
        key = f"{prefix}.{name}"
        defs[key] = _plugin_def(name, reg.schema, discriminator, extra)
        branches.append({
            "if": {"properties": {discriminator: {"const": name}},
                   "required": [discriminator]},
            "then": {"$ref": f"#/$defs/{key}"},
        })
    return {
        "type": "object",
        "required": [discriminator, *required_extra],
        "properties": {discriminator: {"enum": names,
                                       "description": f"A {family} plugin name."}},
        "allOf": branches,
    }


def _keyed(registry: PluginRegistry, family: Family, prefix: str,
           defs: dict[str, Any]) -> dict[str, Any]:
    names = registry.names(family)
    props = {}
    for name in names:
        key = f"{prefix}.{name}"
        defs[key] = _plugin_def(name, registry.get(family, name).schema, None)
        props[name] = {"$ref": f"#/$defs/{key}"}
    return {
        "type": "object",
        "properties": props,
        "additionalProperties": False,
        "description": f"Options per {family} plugin, by plugin name.",
    }


def _header(kind: str, title: str) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "$id": f"urn:gwms:schema:{kind}",
        "title": title,
        "type": "object",
    }


_HOLD_CODE = {"type": "integer", "minimum": 0}
_HELD = {
    "type": "object",
    "additionalProperties": False,
    "description": "Held-glidein policy.",
    "properties": {
        "max_releases": {**_POS_INT, "default": defaults.HELD_MAX_RELEASES,
                         "description": "Releases per glidein before it is removed instead."},
        "release_backoff_s": {**_POS_INT, "default": defaults.HELD_RELEASE_BACKOFF_SECONDS,
                              "description": ("Seconds held before the first release; "
                                              "doubled after each release.")},
        "unrecoverable_hold_codes": {
            "type": "array",
            "default": list(defaults.HELD_UNRECOVERABLE_CODES),
            "description": ("HoldReasonCodes never released (the glidein is removed); "
                            "an item {code, subcode} names one subcode. Other codes are "
                            "recoverable."),
            "items": {"oneOf": [
                _HOLD_CODE,
                {"type": "object", "additionalProperties": False, "required": ["code"],
                 "properties": {"code": _HOLD_CODE, "subcode": _HOLD_CODE}},
            ]},
        },
        "leave_user_holds": {"type": "boolean", "default": defaults.HELD_LEAVE_USER_HOLDS,
                             "description": "Leave glideins held by a person (code 1) alone."},
    },
}


def factory_schema(registry: PluginRegistry) -> dict[str, Any]:
    """Schema of a factory configuration file."""
    defs: dict[str, Any] = {}
    schema = _header("factory", "gwms factory configuration")
    schema.update({
        "required": ["kind", "name", "wms_collector", "entry_sources"],
        "additionalProperties": False,
        "properties": {
            "kind": {"const": "factory"},
            "name": {**_NAME, "description": "Factory name, advertised in every ad."},
            "wms_collector": _HOSTPORT,
            "schedd": {"type": "string", "description": "Factory schedd name (default: local)."},
            "cycle_seconds": {"type": "integer", "minimum": 1,
                              "default": defaults.CYCLE_SECONDS},
            "work_dir": {"type": "string", "default": defaults.FACTORY_WORK_DIR,
                         "description": "Holds the state file, the lock and glidein logs."},
            "glidein_name": {**_NAME, "description": (
                "GlideinName: the factory instance, second part of entry@glidein@factory "
                "(default: the factory name).")},
            "max_submit_per_cycle": {**_POS_INT, "default": defaults.MAX_SUBMIT_PER_CYCLE},
            "idle_lifetime_s": {**_POS_INT, "default": defaults.IDLE_LIFETIME_SECONDS,
                                "description": "Seconds a glidein may wait before removal; "
                                               "0 disables."},
            "orphan_grace_s": {**_POS_INT, "default": defaults.ORPHAN_GRACE_SECONDS,
                               "description": (
                                   "Seconds a client may have no accepted request before its "
                                   "waiting glideins are removed; 0 disables.")},
            "held_glideins": _HELD,
            "key_files": {
                "type": "array", "items": {"type": "string", "minLength": 1},
                "description": ("Factory private keys (PEM), newest first; relative paths "
                                "from the configuration file's directory. gwms factory run "
                                "--key replaces the list."),
            },
            "executable": {"type": "string", "description": (
                "Glidein executable (default: <staging.dir>/glidein_startup.sh).")},
            "initialdir": {"type": "string", "description": (
                "The glideins' initialdir on the schedd host; relative to work_dir "
                "(default: work_dir).")},
            "glidein_log_dir": {"type": "string",
                                "default": defaults.FACTORY_GLIDEIN_LOG_DIR,
                                "description": (
                                    "Glidein stdout/stderr land in <dir>/<entry>/<client>/"
                                    "<cluster>.<proc>.out|err; relative to work_dir; "
                                    "empty: not kept.")},
            "staging": {
                "type": "object",
                "additionalProperties": False,
                "required": ["dir", "url"],
                "properties": {
                    "dir": {"type": "string", "description": "Directory served over HTTP."},
                    "url": {"type": "string", "pattern": "^https?://",
                            "description": "URL glideins download it from."},
                },
            },
            "log_server": {
                "type": "object",
                "additionalProperties": False,
                "description": "Pilot log server: each glidein gets an upload token and "
                               "its log URL (docs/logserver.md).",
                "properties": {
                    "url": {"type": "string", "pattern": "^https?://",
                            "description": "https://HOST:PORT of the log server."},
                    "key_file": {"type": "string",
                                 "description": "Upload-token key file shared with the "
                                                "log server (mode 0600)."},
                    "ca_file": {"type": "string",
                                "description": "CA certificate (bundle) the glideins "
                                               "verify the log server with."},
                    "token_lifetime_s": {**_POS_INT,
                                         "description": "Upload token lifetime."},
                },
            },
            "plugins": _PLUGINS,
            "entry_sources": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/entry_source"},
            },
            "backends": _keyed(registry, Family.BACKEND, "backend", defs),
            "auth": _keyed(registry, Family.AUTH, "auth", defs),
        },
    })
    defs["entry_source"] = _discriminated(registry, Family.ENTRY_SOURCE, "entry_source", "type",
                                          defs)
    schema["$defs"] = dict(sorted(defs.items()))
    return schema


_LIMIT_PAIR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"max": _POS_INT, "curb": _POS_INT},
}


#: Keys every frontend credential has besides its auth plugin's (docs/frontend.md).
_CREDENTIAL_KEYS = {
    "id": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,128}$",
           "description": "Credential id sent as GlideinCredentialIdentifier and tagged on "
                          "its glideins; default <type>-<n> (n-th credential of the type, "
                          "from 0). Unique."},
    "weight": {"type": "integer", "minimum": 0, "default": 1,
               "description": "Share of an entry's request for this credential when several "
                              "serve the entry (largest remainder); 0 asks for none."},
}


def frontend_schema(registry: PluginRegistry) -> dict[str, Any]:
    """Schema of a frontend configuration file."""
    defs: dict[str, Any] = {}
    group = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "match_expr": {"type": "string", "default": defaults.GROUP_MATCH_EXPR,
                           "description": "ClassAd expression over job.* and glidein.*"},
            "start_expr": {"type": "string", "default": defaults.GROUP_START_EXPR,
                           "description": "ClassAd expression ANDed into the glidein START"},
            "job_constraint": {"type": "string",
                               "description": "ClassAd constraint selecting the group's jobs"},
            "running_glideins_per_entry": {
                "type": "object", "additionalProperties": False,
                "properties": {"max": _POS_INT, "min": _POS_INT,
                               "relative_to_queue": {"type": "number", "minimum": 0}},
            },
            "idle_glideins_per_entry": {
                "type": "object", "additionalProperties": False,
                "properties": {"max": _POS_INT, "reserve": _POS_INT},
            },
            "idle_vms_per_entry": _LIMIT_PAIR,
            "idle_vms_total": _LIMIT_PAIR,
            "running_glideins_total": _LIMIT_PAIR,
            "removal": {
                "type": "object", "additionalProperties": False,
                "description": "Glidein removal (GlideinWMS glideins_removal).",
                "properties": {
                    "type": {"enum": ["NO", "WAIT", "IDLE", "ALL"], "default": "NO"},
                    "wait": {**_POS_INT, "description": "Cycles without idle jobs first."},
                    "requests_tracking": {"type": "boolean"},
                    "margin": _POS_INT,
                    "disable": {"type": "boolean",
                                "description": "Never ask for any removal."},
                },
            },
            "ramp_up_attenuation": {"type": "number", "exclusiveMinimum": 0},
            "min_memory": {**_POS_INT,
                           "description": "MB an idle partitionable slot needs to count."},
            "old_idle_age": _POS_INT,
            "ignore_down_entries": {"type": "boolean"},
        },
    }
    schema = _header("frontend", "gwms frontend configuration")
    schema.update({
        "required": ["kind", "name", "wms_collector", "user_pools", "groups", "credentials"],
        "additionalProperties": False,
        "properties": {
            "kind": {"const": "frontend"},
            "name": {**_NAME, "description": "Frontend name, advertised in every request."},
            "wms_collector": _HOSTPORT,
            "factory_identity": {"type": "string",
                                 "description": "Authenticated identity of the factory."},
            "cycle_seconds": {"type": "integer", "minimum": 1,
                              "default": defaults.CYCLE_SECONDS},
            "glideins_in_pool": {
                "type": "object", "additionalProperties": False,
                "description": "GlideinsInPool: glideins that recently joined the pool, "
                               "listed in each request so the factory never removes them "
                               "as waiting while its queue lags the site.",
                "properties": {
                    "window_s": {**_POS_INT,
                                 "default": defaults.GLIDEINS_IN_POOL_WINDOW_SECONDS,
                                 "description": "List startds started at most this many "
                                                "seconds ago (well above the factory's "
                                                "blahp/gridmanager poll intervals)."},
                    "max": {**_POS_INT, "default": defaults.GLIDEINS_IN_POOL_MAX,
                            "description": "Most glideins listed per request ad (the "
                                           "newest); 0 sends no list."},
                },
            },
            "plugins": _PLUGINS,
            "user_pools": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["collector"],
                    "properties": {
                        "collector": _HOSTPORT,
                        "schedds": {"type": "array", "items": {"type": "string"},
                                    "description": "Schedd names; default: all in the pool."},
                        "job_query": {
                            "type": "string",
                            "default": "JobUniverse == 5 && (JobStatus == 1 || JobStatus == 2)",
                        },
                    },
                },
            },
            "limits": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "idle_vms_total": _LIMIT_PAIR,
                    "running_glideins_total": _LIMIT_PAIR,
                    "idle_vms_total_global": _LIMIT_PAIR,
                    "running_glideins_total_global": _LIMIT_PAIR,
                },
            },
            "groups": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": _NAME,
                "additionalProperties": {"$ref": "#/$defs/group"},
            },
            "credentials": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/credential"},
            },
            "container": {"$ref": "#/$defs/container"},
        },
    })
    defs["group"] = group
    defs["credential"] = _discriminated(registry, Family.AUTH, "credential", "type", defs,
                                        extra=_CREDENTIAL_KEYS)
    defs["container"] = _discriminated(
        registry, Family.CONTAINER, "container", "runtime", defs,
        extra={"policy": {"enum": ["never", "optional", "preferred", "required"],
                          "default": "optional"}},
    )
    schema["$defs"] = dict(sorted(defs.items()))
    return schema


def entries_schema(registry: PluginRegistry) -> dict[str, Any]:
    """Schema of a static entry file."""
    entry = copy.deepcopy(ENTRY_SCHEMA)
    entry["properties"]["grid_type"]["enum"] = registry.names(Family.BACKEND)
    entry["properties"]["auth_method"]["enum"] = registry.names(Family.AUTH)
    schema = _header("entries", "gwms static entry file")
    schema.update({
        "required": ["kind", "entries"],
        "additionalProperties": False,
        "properties": {
            "kind": {"const": "entries"},
            "entries": {
                "type": "object",
                "propertyNames": _NAME,
                "additionalProperties": {"$ref": "#/$defs/entry"},
            },
        },
        "$defs": {"entry": entry},
    })
    return schema


def schema_for(kind: str, registry: PluginRegistry) -> dict[str, Any]:
    """The composed schema of ``kind`` (one of :data:`KINDS`)."""
    builders = {"factory": factory_schema, "frontend": frontend_schema,
                "entries": entries_schema}
    if kind not in builders:
        raise ValueError(f"unknown configuration kind {kind!r}; expected one of {KINDS}")
    return builders[kind](registry)
