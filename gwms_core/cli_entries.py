"""``gwms entries generate`` and ``gwms entries diff``.

``generate`` runs an entry source (``cric``, ``osg``, or any plugin), merges
the operator's overrides, prints one line per skipped catalogue entry and the
diff against the current entry file, refuses a set that would remove too much,
and writes a reviewable ``kind: entries`` file atomically.

Exit codes of ``generate`` (see :data:`EXIT_CODES`)::

    0  written (or, with --dry-run, would be written); nothing skipped
    1  an input file is invalid (override file, current entry file, options)
    2  usage error
    3  written, but some catalogue entries were skipped as invalid
    4  refused: too many current entries would be removed (nothing written)
    5  the source is unusable (unreadable file, unreachable or unauthorised
       URL, malformed JSON, collector query failed; nothing written)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3
EXIT_REFUSED = 4
EXIT_SOURCE = 5

#: Exit code -> meaning, as documented.
EXIT_CODES: Mapping[int, str] = {
    EXIT_OK: "written; nothing skipped",
    EXIT_INVALID: "an input file or option is invalid; nothing written",
    EXIT_USAGE: "usage error",
    EXIT_SKIPPED: "written; some catalogue entries were skipped as invalid",
    EXIT_REFUSED: "refused: too many current entries would be removed; nothing written",
    EXIT_SOURCE: "the source is unusable; nothing written",
}

#: Command-line flag -> source option (set only when given).
_FLAG_OPTIONS = ("path", "url", "token_file", "cert_file", "key_file", "ca_file",
                 "timeout_s", "collector", "constraint", "ce_port", "naming",
                 "override_file")
_BOOL_OPTIONS = ("include_non_production", "use_collector_host", "best_fit")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _parse_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def source_options(args: argparse.Namespace) -> dict[str, Any]:
    """The source's options from ``--option KEY=VALUE`` and the named flags."""
    options: dict[str, Any] = {}
    for item in args.option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--option {item!r}: expected KEY=VALUE")
        options[key.strip()] = _parse_value(value)
    for key in _FLAG_OPTIONS:
        value = getattr(args, key, None)
        if value is not None:
            options[key] = value
    for key in _BOOL_OPTIONS:
        if getattr(args, key, False):
            options[key] = True
    return options


def option_problems(options: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every way ``options`` breaks the source's schema, as short sentences."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(dict(schema))
    out = []
    for err in sorted(validator.iter_errors(dict(options)), key=lambda e: e.message):
        where = ".".join(str(p) for p in err.absolute_path)
        branches = err.validator_value if isinstance(err.validator_value, list) else []
        keys = [b["required"][0] for b in branches
                if isinstance(b, dict) and isinstance(b.get("required"), list)]
        if err.validator == "oneOf" and keys:
            out.append("give exactly one of " + " or ".join(repr(k) for k in keys))
        elif err.validator == "additionalProperties":
            allowed = ", ".join(sorted(schema.get("properties", {})))
            out.append(f"{err.message} (this source accepts: {allowed})")
        else:
            out.append(f"{where + ': ' if where else ''}{err.message}")
    return out


def _current(path: Path | None) -> dict[str, Any] | None:
    """Entries of the current file by name, or None when there is no file."""
    from gwms_core.config import load_config
    from gwms_core.entries import Entry

    if path is None or not path.exists():
        return None
    cfg = load_config(path, expect_kind="entries")
    entries = cfg.data.get("entries", {})
    return {name: Entry.from_dict(name, entries[name]) for name in entries}


def cmd_entries_generate(args: argparse.Namespace) -> int:
    """Generate, report, diff, check, write. See the module docstring for exit codes."""
    from gwms_core.config import ConfigError, validate_data
    from gwms_core.config.loader import load_yaml
    from gwms_core.entrygen import (
        DEFAULT_MAX_DROP_FRACTION,
        Generated,
        SourceError,
        check_drop,
        diff_entries,
        format_diff,
        render_entries,
        write_atomic,
    )
    from gwms_core.manager import PluginError, get_registry
    from gwms_core.types import EntrySourceHandler, Family

    try:
        registry = get_registry()
        registration = registry.get(Family.ENTRY_SOURCE, args.source)
    except (KeyError, PluginError) as exc:
        _err(f"error: {exc.args[0] if exc.args else exc}")
        return EXIT_INVALID
    try:
        options = source_options(args)
    except ValueError as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    bad_options = option_problems(options, registration.schema)
    if bad_options:
        for text in bad_options:
            _err(f"error: source {args.source!r}: {text}")
        return EXIT_INVALID
    base_dir = Path.cwd()
    handler: EntrySourceHandler = registration.handler  # type: ignore[assignment]
    try:
        if hasattr(handler, "generate"):
            result: Generated = handler.generate(options, base_dir)
        else:
            loaded = handler.load(options, base_dir)
            result = Generated(entries={e.name: e for e in loaded}, source=args.source)
    except SourceError as exc:
        _err(f"error: source {args.source!r}: {exc}; nothing written")
        return EXIT_SOURCE
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"error: {problem}")
        return EXIT_INVALID

    for note in result.invalid:
        _err(f"skipped: {note}")
    if args.verbose:
        for note in result.ignored:
            _err(f"ignored: {note}")
    if result.ignored:
        _err(f"ignored {len(result.ignored)} catalogue entr"
             f"{'y' if len(result.ignored) == 1 else 'ies'} by policy "
             "(non-production queue, unsupported grid type, override); -v lists them")

    out = Path(args.out)
    current_path = Path(args.current) if args.current else out
    try:
        current = _current(current_path)
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"error: current entry file: {problem}")
        _err("fix or remove it, or name another with --current")
        return EXIT_INVALID

    new = dict(result.entries)
    diff = diff_entries(current or {}, new)
    _out(f"diff against {current_path if current is not None else '(no current file)'}:")
    for line in format_diff(diff, new):
        _out(line)

    limit = args.max_drop_fraction
    if limit is None:
        limit = float(options.get("max_drop_fraction", DEFAULT_MAX_DROP_FRACTION))
    if not 0.0 <= limit <= 1.0:
        _err(f"error: --max-drop-fraction must be between 0 and 1, got {limit}")
        return EXIT_USAGE
    check = check_drop(current or {}, new, limit)
    if not check.ok and not args.force:
        _err(f"refused: {check}; nothing written (use --force to write anyway)")
        return EXIT_REFUSED

    header = [
        f"Generated by: gwms entries generate --source {args.source}",
        f"Source: {result.source or args.source}",
        f"{len(new)} entries; {len(result.invalid)} catalogue entries skipped as invalid, "
        f"{len(result.ignored)} ignored by policy.",
        "Review before use; regenerate rather than edit (use an override file).",
    ]
    text = render_entries(new, header)
    # The file must be what `gwms config validate` and the static source accept.
    data, lines = load_yaml(out, text)
    try:
        validate_data(data, str(out), lines, registry, expect_kind="entries")
    except ConfigError as exc:  # a bug: every entry was validated already
        for problem in exc.problems:
            _err(f"error: generated file would be invalid: {problem}")
        return EXIT_INVALID
    if args.dry_run:
        _out(f"dry run: {out} not written")
    else:
        write_atomic(out, text)
        _out(f"wrote {out}: {len(new)} entries")
    return EXIT_SKIPPED if result.invalid else EXIT_OK


def cmd_entries_diff(args: argparse.Namespace) -> int:
    """Diff two entry files; exit 0 when equal, 3 when they differ, 1 when invalid."""
    from gwms_core.config import ConfigError
    from gwms_core.entrygen import diff_entries, format_diff

    try:
        old = _current(Path(args.old)) or {}
        new = _current(Path(args.new)) or {}
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"error: {problem}")
        return EXIT_INVALID
    diff = diff_entries(old, new)
    for line in format_diff(diff, new):
        _out(line)
    return EXIT_OK if diff.empty else EXIT_SKIPPED


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], noun: str) -> None:
    """Add the ``entries`` noun."""
    codes = "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items())
    p = sub.add_parser(noun, help="generate entry files from catalogues (CRIC, OSG)",
                       description="Generate and compare factory entry files.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    g = verbs.add_parser(
        "generate", help="write a kind: entries file from an entry source",
        description="Run an entry source, apply the override file, print skipped entries "
                    "and the diff against the current file, then write --out. "
                    f"Exit codes: {codes}.")
    g.add_argument("--source", required=True, help="entry source plugin (cric, osg, ...)")
    g.add_argument("--out", required=True, help="entry file to write (kind: entries)")
    g.add_argument("--current", help="entry file to compare with (default: --out)")
    src = g.add_argument_group("source options (passed to the plugin)")
    src.add_argument("--path", help="catalogue file (cric)")
    src.add_argument("--url", help="catalogue HTTPS URL (cric)")
    src.add_argument("--token-file", dest="token_file", help="bearer token file for --url")
    src.add_argument("--cert", dest="cert_file", help="client certificate (PEM) for --url")
    src.add_argument("--key", dest="key_file", help="client key (PEM) for --cert")
    src.add_argument("--ca-file", dest="ca_file", help="CA bundle for --url")
    src.add_argument("--timeout", dest="timeout_s", type=float, help="seconds (cric --url)")
    src.add_argument("--collector", help="collector host[:port] holding CE ads (osg)")
    src.add_argument("--constraint", help="ClassAd constraint on CE ads (osg)")
    src.add_argument("--ce-port", dest="ce_port", type=int, help="CE port (osg; 9619)")
    src.add_argument("--use-collector-host", dest="use_collector_host", action="store_true",
                     help="gatekeeper from the ad's CollectorHost (osg)")
    src.add_argument("--best-fit", dest="best_fit", action="store_true",
                     help="one extra entry per CE from non-pilot sections (osg)")
    src.add_argument("--include-non-production", dest="include_non_production",
                     action="store_true", help="also queues not in Production (cric)")
    src.add_argument("--naming", choices=("cric", "derived"), help="entry names (cric)")
    src.add_argument("--override", dest="override_file", help="operator override file")
    src.add_argument("--option", action="append", metavar="KEY=VALUE",
                     help="any other source option (YAML value); repeatable")
    g.add_argument("--max-drop-fraction", type=float, default=None, metavar="F",
                   help="refuse when more than F of the current entries would be removed "
                        "(default: the source's max_drop_fraction, 0.5)")
    g.add_argument("--force", action="store_true", help="write even when refused")
    g.add_argument("--dry-run", action="store_true", help="report and diff, write nothing")
    g.add_argument("-v", "--verbose", action="store_true", help="list ignored entries")
    g.set_defaults(func=cmd_entries_generate)
    d = verbs.add_parser("diff", help="compare two entry files",
                         description="Added, removed and changed attributes per entry. "
                                     "Exit 0 when equal, 3 when different, 1 when invalid.")
    d.add_argument("old")
    d.add_argument("new")
    d.set_defaults(func=cmd_entries_diff)
