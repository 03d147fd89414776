"""``gwms logserver``: run the pilot log server and manage its keys, tokens and users.

Verbs: ``serve``, ``keygen`` (the HMAC key the factory and the server share),
``token`` (mint an upload token for one entry/glidein, as the factory does),
``user`` (add or replace a viewer/admin in the users file), ``retention`` (apply
the retention policy once), ``reindex`` (rebuild the index from the stored files).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_INVALID = 1


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _config(args: argparse.Namespace) -> object:
    from gwms_core.logserver.retention import RetentionPolicy
    from gwms_core.logserver.server import ServerConfig
    from gwms_core.logserver.tokens import load_keyring
    from gwms_core.logserver.users import load_users

    host, _, port = args.listen.rpartition(":")
    return ServerConfig(
        data_dir=Path(args.data_dir), keyring=load_keyring(args.key_file),
        users=load_users(args.users_file) if args.users_file else {},
        host=host or "127.0.0.1", port=int(port),
        certfile=Path(args.cert) if args.cert else None,
        keyfile=Path(args.cert_key) if args.cert_key else None,
        insecure_http=args.insecure_http, max_upload_bytes=args.max_upload_bytes,
        retention=RetentionPolicy(
            max_age_seconds=args.retention_days * 86400 if args.retention_days else None,
            max_total_bytes=args.retention_bytes or None),
        redact_patterns=tuple(args.redact), index_url=args.index,
        public_metrics=args.public_metrics)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server in the foreground."""
    from gwms_core.logserver.server import ServerConfig, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = _config(args)
    except (OSError, ValueError) as exc:
        _err(f"error: {exc}")
        return EXIT_INVALID
    assert isinstance(config, ServerConfig)
    if config.certfile is None and not config.insecure_http:
        _err("error: --cert is required (HTTPS); --insecure-http only for local tests")
        return EXIT_INVALID
    run(config)
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    """Apply the retention policy once and print how many glideins were deleted."""
    from gwms_core.logserver.blobs import BlobStore
    from gwms_core.logserver.index import open_index
    from gwms_core.logserver.retention import RetentionPolicy, select_victims

    data = Path(args.data_dir)
    index = open_index(args.index or f"sqlite:{data / 'index.sqlite'}")
    blobs = BlobStore(data / "logs")
    policy = RetentionPolicy(
        max_age_seconds=args.retention_days * 86400 if args.retention_days else None,
        max_total_bytes=args.retention_bytes or None)
    import time
    victims = select_victims(index.usage(), policy, time.time())
    for v in victims:
        index.delete(v.entry, v.glidein)
        blobs.delete(v.entry, v.glidein)
    index.close()
    sys.stdout.write(f"deleted the logs of {len(victims)} glidein(s)\n")
    return EXIT_OK


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild the SQLite index from the stored files (run with the server stopped)."""
    from gwms_core.logserver.index import rebuild

    glideins, files = rebuild(args.data_dir)
    sys.stdout.write(f"indexed {files} file(s) of {glideins} glidein(s)\n")
    return EXIT_OK


def cmd_keygen(args: argparse.Namespace) -> int:
    """Create the key file, or prepend a new signing key with --rotate."""
    from gwms_core.logserver.tokens import KeyRing, load_keyring, new_key, write_keyring

    path = Path(args.key_file)
    if path.exists():
        if not args.rotate:
            _err(f"error: {path} exists; use --rotate to add a new signing key")
            return EXIT_INVALID
        old = load_keyring(path)
        if old.get(args.kid) is not None:
            _err(f"error: key id {args.kid!r} already in {path}")
            return EXIT_INVALID
        ring = KeyRing((new_key(args.kid), *old.keys[: max(args.keep - 1, 0)]))
    else:
        ring = KeyRing((new_key(args.kid),))
    write_keyring(path, ring)
    sys.stdout.write(f"wrote {path} (signing key {args.kid!r}, {len(ring.keys)} key(s))\n")
    return EXIT_OK


def cmd_token(args: argparse.Namespace) -> int:
    """Print an upload token for one entry and glidein."""
    from gwms_core.logserver.tokens import load_keyring, mint

    try:
        ring = load_keyring(args.key_file)
        token = mint(ring, args.entry, args.glidein, lifetime=args.lifetime)
    except (OSError, ValueError) as exc:
        _err(f"error: {exc}")
        return EXIT_INVALID
    sys.stdout.write(token + "\n")
    return EXIT_OK


def cmd_user(args: argparse.Namespace) -> int:
    """Add or replace a user in the users file (password from stdin or a prompt)."""
    from gwms_core.logserver.users import user_line

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
    if len(password) < 8:
        _err("error: password shorter than 8 characters")
        return EXIT_INVALID
    try:
        line = user_line(args.name, args.role, password)
    except ValueError as exc:
        _err(f"error: {exc}")
        return EXIT_INVALID
    path = Path(args.users_file)
    old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    kept = [ln for ln in old if ln.split(":", 1)[0] != args.name]
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join([*kept, line]) + "\n")
    os.replace(tmp, path)
    sys.stdout.write(f"{'replaced' if len(kept) != len(old) else 'added'} user "
                     f"{args.name!r} ({args.role}) in {path}\n")
    return EXIT_OK


def _storage_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", required=True, help="directory of stored logs and index")
    p.add_argument("--index", help="index URL: sqlite:PATH (default DATA_DIR/index.sqlite)")
    p.add_argument("--retention-days", type=float, default=30.0,
                   help="delete a glidein's logs this long after its last upload "
                        "(0: never; default 30)")
    p.add_argument("--retention-bytes", type=int, default=50 * 1024**3,
                   help="keep at most this many bytes, oldest go first (0: no limit)")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], noun: str) -> None:
    """Add the ``logserver`` noun."""
    p = sub.add_parser(noun, help="pilot log server and monitor (GlideinMonitor)",
                       description="The HTTPS service glideins upload their JSON logs to, "
                                   "with search, a REST API and web pages.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    v = verbs.add_parser("serve", help="run the log server in the foreground")
    _storage_args(v)
    v.add_argument("--key-file", required=True, help="HMAC key file shared with the factory")
    v.add_argument("--users-file", help="viewer accounts (see 'gwms logserver user')")
    v.add_argument("--listen", default="127.0.0.1:8443", help="HOST:PORT (default %(default)s)")
    v.add_argument("--cert", help="PEM certificate (chain) for HTTPS")
    v.add_argument("--cert-key", help="PEM private key, if not in --cert")
    v.add_argument("--insecure-http", action="store_true",
                   help="serve plain HTTP (local tests only)")
    v.add_argument("--max-upload-bytes", type=int, default=16 * 1024 * 1024,
                   help="largest upload body (default %(default)s)")
    v.add_argument("--redact", action="append", default=[], metavar="REGEX",
                   help="extra pattern to redact before storing (repeatable)")
    v.add_argument("--public-metrics", action="store_true",
                   help="serve /metrics without login")
    v.set_defaults(func=cmd_serve)

    v = verbs.add_parser("keygen", help="create the shared HMAC key file (mode 0600)")
    v.add_argument("--key-file", required=True)
    v.add_argument("--kid", default="logs-1", help="key id (default %(default)s)")
    v.add_argument("--rotate", action="store_true",
                   help="prepend a new signing key, keep older ones for verification")
    v.add_argument("--keep", type=int, default=2,
                   help="keys kept after --rotate, new one included (default %(default)s)")
    v.set_defaults(func=cmd_keygen)

    v = verbs.add_parser("token", help="mint an upload token for one entry and glidein")
    v.add_argument("--key-file", required=True)
    v.add_argument("--entry", required=True)
    v.add_argument("--glidein", required=True)
    v.add_argument("--lifetime", type=int, default=3 * 24 * 3600,
                   help="seconds (default %(default)s)")
    v.set_defaults(func=cmd_token)

    v = verbs.add_parser("user", help="add or replace a web/API user")
    v.add_argument("--users-file", required=True)
    v.add_argument("--name", required=True)
    v.add_argument("--role", choices=("viewer", "admin"), default="viewer")
    v.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of stdin")
    v.set_defaults(func=cmd_user)

    v = verbs.add_parser("reindex", help="rebuild the index from the stored files "
                                         "(server stopped)")
    v.add_argument("--data-dir", required=True)
    v.set_defaults(func=cmd_reindex)

    v = verbs.add_parser("retention", help="apply the retention policy once")
    _storage_args(v)
    v.set_defaults(func=cmd_retention)
