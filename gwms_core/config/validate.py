"""Validate a configuration file completely before anything uses it.

:func:`load_config` parses the YAML, picks the schema by ``kind``, validates it
against the schema composed from the core and the enabled plugins, then runs the
semantic checks a schema cannot express (ClassAd expressions parse, entry names
unique across files, ...). Every problem is collected; the first call that fails
raises :class:`~gwms_core.config.loader.ConfigError` listing all of them, each
naming the file, the line and the path inside the document.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from gwms_core.config.loader import ConfigError, LineMap, Path_, Problem, load_yaml
from gwms_core.config.schema import KINDS, schema_for
from gwms_core.manager import PluginRegistry, get_registry


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated configuration, with schema defaults filled in."""

    kind: str
    file: Path
    data: Mapping[str, Any]
    lines: LineMap


def _message(err: jsonschema.ValidationError) -> str:
    """A short sentence saying what was expected."""
    v = err.validator
    if v == "additionalProperties":
        extra = sorted(set(err.instance) - _props(err))  # type: ignore[arg-type]
        return f"unknown key {', '.join(map(repr, extra))}{_allowed(err)}"
    if v == "required":
        return err.message.replace("is a required property", "is required but missing")
    if v == "enum":
        choices = ", ".join(repr(c) for c in err.validator_value)  # type: ignore[union-attr]
        return f"{err.instance!r} is not one of: {choices}"
    if v == "const":
        return f"expected {err.validator_value!r}, got {err.instance!r}"
    if v == "type":
        return f"expected {err.validator_value}, got {type(err.instance).__name__} " \
               f"{err.instance!r}"
    if v == "propertyNames":
        return f"invalid key: {err.message}"
    return err.message


def _props(err: jsonschema.ValidationError) -> set[str]:
    schema = err.schema
    return set(schema.get("properties", {})) if isinstance(schema, Mapping) else set()


def _allowed(err: jsonschema.ValidationError) -> str:
    return f" (allowed: {', '.join(sorted(_props(err))) or 'none'})"


def _leaf_errors(err: jsonschema.ValidationError) -> Iterator[jsonschema.ValidationError]:
    """Descend into combinator errors (allOf/if-then) to the errors that say something."""
    if err.context:
        for sub in err.context:
            yield from _leaf_errors(sub)
    else:
        yield err


def schema_problems(data: Any, schema: Mapping[str, Any], file: str,
                    lines: LineMap) -> list[Problem]:
    """All schema violations of ``data``, sorted by line."""
    validator = jsonschema.Draft202012Validator(schema)
    problems: dict[tuple[Path_, str], Problem] = {}
    for top in validator.iter_errors(data):
        for err in _leaf_errors(top):
            path: Path_ = tuple(err.absolute_path)
            if "propertyNames" in err.relative_schema_path and isinstance(err.instance, str):
                path = (*path, err.instance)
                msg = f"invalid name {err.instance!r}: {err.message}"
                problems.setdefault((path, msg), Problem(file, lines.line_of(path), path, msg))
                continue
            if err.validator == "additionalProperties" and isinstance(err.instance, dict):
                for key in sorted(set(err.instance) - _props(err)):
                    kpath = (*path, key)
                    msg = f"unknown key {key!r}{_allowed(err)}"
                    problems.setdefault((kpath, msg),
                                        Problem(file, lines.line_of(kpath), kpath, msg))
                continue
            msg = _message(err)
            problems.setdefault((path, msg), Problem(file, lines.line_of(path), path, msg))
    return sorted(problems.values(), key=lambda p: (p.line or 0, p.dotted))


def apply_defaults(data: Any, schema: Mapping[str, Any],
                   root: Mapping[str, Any] | None = None) -> Any:
    """A copy of ``data`` with ``default`` values from ``schema`` filled in (objects only)."""
    root = root or schema
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref.startswith("#/$defs/"):
            schema = root["$defs"][ref[len("#/$defs/"):]]
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"], root) for item in data]
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for branch in schema.get("allOf", []):
        cond = branch.get("if")
        if cond is not None and "then" in branch and \
                jsonschema.Draft202012Validator(cond).is_valid(out):
            out = apply_defaults(out, branch["then"], root)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        elif key in out:
            out[key] = apply_defaults(out[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in out:
            if key not in schema.get("properties", {}):
                out[key] = apply_defaults(out[key], extra, root)
    return out


# --------------------------------------------------------------------------- semantics

SemanticCheck = Callable[[Mapping[str, Any], str, LineMap, PluginRegistry], list[Problem]]


def _classad_problem(expr: str) -> str | None:
    """The parse error of a ClassAd expression, or None when it parses."""
    try:
        import classad2
    except ImportError:  # pragma: no cover - htcondor is a dependency
        return None
    try:
        classad2.ExprTree(expr)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None


def _check_frontend(data: Mapping[str, Any], file: str, lines: LineMap,
                    registry: PluginRegistry) -> list[Problem]:
    out = []
    for gname, group in data.get("groups", {}).items():
        for key in ("match_expr", "start_expr", "job_constraint"):
            expr = group.get(key)
            if expr is None:
                continue
            err = _classad_problem(expr)
            if err:
                path: Path_ = ("groups", gname, key)
                out.append(Problem(file, lines.line_of(path), path,
                                   f"ClassAd expression {expr!r} does not parse: {err}"))
    for i, pool in enumerate(data.get("user_pools", [])):
        expr = pool.get("job_query")
        if expr and (err := _classad_problem(expr)):
            path = ("user_pools", i, "job_query")
            out.append(Problem(file, lines.line_of(path), path,
                               f"ClassAd expression {expr!r} does not parse: {err}"))
    creds = data.get("credentials")
    if isinstance(creds, list) and all(isinstance(c, Mapping) for c in creds):
        from gwms_core.credentials.selection import credential_ids

        first: dict[str, int] = {}
        for i, cid in enumerate(credential_ids(creds)):
            if cid in first:
                ipath: Path_ = ("credentials", i)
                out.append(Problem(file, lines.line_of(ipath), ipath,
                                   f"credential id {cid!r} is also credentials[{first[cid]}]'s"
                                   " (ids must be unique)"))
            first.setdefault(cid, i)
    container = data.get("container")
    if isinstance(container, Mapping):
        from gwms_core.containers import glidein_params

        try:
            glidein_params(container)
        except ValueError as exc:
            cpath: Path_ = ("container",)
            out.append(Problem(file, lines.line_of(cpath), cpath, str(exc)))
    return out


def _check_factory(data: Mapping[str, Any], file: str, lines: LineMap,
                   registry: PluginRegistry) -> list[Problem]:
    return []


SEMANTIC_CHECKS: dict[str, SemanticCheck] = {
    "frontend": _check_frontend,
    "factory": _check_factory,
}


def validate_data(data: Any, file: str, lines: LineMap | None = None,
                  registry: PluginRegistry | None = None,
                  expect_kind: str | None = None) -> LoadedConfig:
    """Validate already-parsed data; raise ConfigError listing every problem."""
    lines = lines or LineMap()
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise ConfigError([Problem(file, 1, (), f"expected a mapping at the top, got {got}")])
    kind = data.get("kind")
    if kind not in KINDS:
        raise ConfigError([Problem(file, lines.line_of(("kind",)), ("kind",),
                                   f"'kind' must be one of {', '.join(KINDS)}; got {kind!r}")])
    if expect_kind and kind != expect_kind:
        raise ConfigError([Problem(file, lines.line_of(("kind",)), ("kind",),
                                   f"expected a {expect_kind} configuration, got {kind!r}")])
    if registry is None:
        disable = data.get("plugins", {}).get("disable", [])
        registry = get_registry(disabled=disable if isinstance(disable, list) else [])
    schema = schema_for(kind, registry)
    problems = schema_problems(data, schema, file, lines)
    if not problems and kind in SEMANTIC_CHECKS:
        problems = SEMANTIC_CHECKS[kind](data, file, lines, registry)
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(kind, Path(file), apply_defaults(data, schema), lines)


def load_config(path: Path | str, registry: PluginRegistry | None = None,
                expect_kind: str | None = None) -> LoadedConfig:
    """Parse and validate ``path``; raise ConfigError naming file, line and path."""
    data, lines = load_yaml(path)
    return validate_data(data, str(path), lines, registry, expect_kind)
