"""The ``gwms`` command: ``gwms NOUN VERB [options]``.

Nouns register themselves in :data:`NOUNS`; each module exposes
``add_parser(subparsers)`` and sets ``func`` on its verbs. Modules are imported
only when their noun is used, so ``gwms --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gwms_core import __version__

#: noun -> (module defining it, one-line help)
NOUNS: dict[str, tuple[str, str]] = {
    "config": ("gwms_core.cli", "validate configuration files"),
    "entries": ("gwms_core.cli_entries", "generate entry files from CRIC or an OSG collector"),
    "plugins": ("gwms_core.cli", "list installed plugins"),
    "schema": ("gwms_core.cli", "print or write the composed JSON schemas"),
    "logserver": ("gwms_core.cli_logserver", "pilot log server and monitor"),
    "factory": ("gwms_core.cli_factory", "run the glidein factory, its status and checks"),
    "frontend": ("gwms_core.cli_frontend", "run the VO frontend, show its requests"),
    "credentials": ("gwms_core.credentials.cli", "factory key, its ad attributes, secret scan"),
    "glidein": ("gwms_core.cli_glidein", "glidein tools: print or run a manual glidein start"),
}

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _print(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


# --------------------------------------------------------------------------- config


def cmd_config_validate(args: argparse.Namespace) -> int:
    """Validate every FILE; print one line per problem; exit 1 if any is invalid."""
    from gwms_core.config import ConfigError, load_config

    status = EXIT_OK
    for file in args.files:
        try:
            cfg = load_config(file)
        except ConfigError as exc:
            status = EXIT_INVALID
            for problem in exc.problems:
                _err(f"error: {problem}")
            _err(f"{file}: invalid ({len(exc.problems)} problem(s)); nothing applied")
            continue
        _print(f"{file}: valid {cfg.kind} configuration")
    return status


# --------------------------------------------------------------------------- plugins


def cmd_plugins_list(args: argparse.Namespace) -> int:
    """Table (or JSON) of every plugin feature, plus broken plugins."""
    from gwms_core.manager import PluginError, get_registry

    try:
        registry = get_registry()
    except PluginError as exc:
        _err(f"error: {exc}")
        return EXIT_INVALID
    rows = [
        {"name": i.name, "family": str(i.family), "distribution": i.provider.distribution,
         "version": i.provider.version, "plugin": i.provider.plugin,
         "description": i.description}
        for i in registry.all()
    ]
    broken = [{"plugin": b.plugin, "distribution": b.distribution, "error": b.error}
              for b in registry.broken]
    if args.json:
        _print(json.dumps({"plugins": rows, "broken": broken}, indent=2))
    else:
        cols = ("name", "family", "distribution", "version", "description")
        table = [[r[c] for c in cols] for r in rows]
        widths = [max(len(c), *(len(t[i]) for t in table)) if table else len(c)
                  for i, c in enumerate(cols)]
        _print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
        for t in table:
            _print("  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)).rstrip())
        for b in broken:
            _err(f"broken: plugin {b['plugin']!r} from {b['distribution']!r}: {b['error']}")
    return EXIT_OK


# --------------------------------------------------------------------------- schema


def _schemas(builtin_only: bool) -> dict[str, dict[str, Any]]:
    from gwms_core.config.schema import KINDS, schema_for
    from gwms_core.manager import build_registry

    registry = build_registry(external=False) if builtin_only else build_registry()
    return {kind: schema_for(kind, registry) for kind in KINDS}


def schema_text(schema: dict[str, Any]) -> str:
    """Canonical JSON text of a schema (what is committed)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def cmd_schema(args: argparse.Namespace) -> int:
    """Print one composed schema, or write/check the committed files."""
    schemas = _schemas(args.builtin_only or bool(args.write or args.check))
    if args.write or args.check:
        directory = Path(args.write or args.check)
        drift = []
        for kind, schema in schemas.items():
            path = directory / f"{kind}.schema.json"
            text = schema_text(schema)
            if args.write:
                directory.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                _print(f"wrote {path}")
            elif not path.exists() or path.read_text(encoding="utf-8") != text:
                drift.append(str(path))
        if drift:
            _err("schema drift: " + ", ".join(drift) +
                 f"; regenerate with: gwms schema --write {directory}")
            return EXIT_INVALID
        return EXIT_OK
    _print(schema_text(schemas[args.kind]).rstrip())
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], noun: str) -> None:
    """Add this module's nouns (config, plugins, schema)."""
    if noun == "config":
        p = sub.add_parser("config", help=NOUNS["config"][1],
                           description="Validate configuration files before using them.")
        verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
        v = verbs.add_parser("validate", help="validate factory/frontend/entries YAML files",
                             description="Validate each FILE against the schema composed "
                                         "from the core and the enabled plugins. Exit 0 "
                                         "when all are valid, 1 otherwise.")
        v.add_argument("files", nargs="+", metavar="FILE")
        v.set_defaults(func=cmd_config_validate)
    elif noun == "plugins":
        p = sub.add_parser("plugins", help=NOUNS["plugins"][1],
                           description="Plugins: built-ins first, then entry point group "
                                       "'gwms'. GWMS_DISABLE_PLUGINS=a,b skips some; "
                                       "GWMS_NO_EXTERNAL_PLUGINS=1 skips all third-party.")
        verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
        v = verbs.add_parser("list", help="name, family, distribution and version of each")
        v.add_argument("--json", action="store_true", help="machine-readable output")
        v.set_defaults(func=cmd_plugins_list)
    elif noun == "schema":
        p = sub.add_parser("schema", help=NOUNS["schema"][1],
                           description="Print the JSON Schema (2020-12) of a configuration "
                                       "kind, composed from the core and the plugins.")
        p.add_argument("kind", nargs="?", default="factory",
                       choices=("factory", "frontend", "entries"))
        p.add_argument("--builtin-only", action="store_true",
                       help="ignore third-party plugins (what is committed)")
        group = p.add_mutually_exclusive_group()
        group.add_argument("--write", metavar="DIR", help="write every kind's schema to DIR")
        group.add_argument("--check", metavar="DIR",
                           help="exit 1 if the schemas in DIR differ from the code")
        p.set_defaults(func=cmd_schema)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``gwms`` parser."""
    parser = argparse.ArgumentParser(
        prog="gwms",
        description="gwms: grow HTCondor pools with glideins. "
                    "Commands are NOUN VERB, e.g. 'gwms config validate factory.yaml'.",
    )
    parser.add_argument("--version", action="version", version=f"gwms {__version__}")
    sub = parser.add_subparsers(dest="noun", metavar="NOUN", required=True)
    for noun, (module, _help) in NOUNS.items():
        mod = sys.modules[__name__] if module == __name__ else importlib.import_module(module)
        mod.add_parser(sub, noun)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gwms`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
