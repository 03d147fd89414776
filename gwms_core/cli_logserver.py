"""``gwms logserver``: run the pilot log server and manage its keys, tokens and users.

Verbs: ``serve``, ``keygen`` (the HMAC key the factory and the server share),
``token`` (mint an upload token for one entry/glidein, as the factory does),
``user`` (add or replace a viewer/admin in the users file), ``hash-password`` (a users
file hash for inventories), ``validate`` (check a configuration or users file without
serving), ``retention`` (apply the retention policy once), ``reindex`` (rebuild the
index from the stored files).

``serve --config FILE`` reads the options from a YAML file whose keys are the long
option names with ``_`` for ``-`` (``listen``, ``data_dir``, ``key_file``,
``users_file``, ``cert``, ``cert_key``, ``max_upload_bytes``, ``retention_days``,
``retention_bytes``, ``redact``, ``index``, ``public_metrics``); options given on the
command line win.
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


#: Keys of a ``--config`` file and their types (the long options' dest names).
CONFIG_KEYS: dict[str, type | tuple[type, ...]] = {
    "listen": str, "data_dir": str, "index": str, "key_file": str, "users_file": str,
    "cert": str, "cert_key": str, "max_upload_bytes": int,
    "retention_days": (int, float), "retention_bytes": int, "redact": list,
    "public_metrics": bool,
}
_SERVE_DEFAULTS = {"listen": "127.0.0.1:8443", "max_upload_bytes": 16 * 1024 * 1024,
                   "retention_days": 30.0, "retention_bytes": 50 * 1024**3, "redact": [],
                   "public_metrics": False, "index": None, "users_file": None,
                   "cert": None, "cert_key": None, "data_dir": None, "key_file": None}


def read_config_file(path: str | Path) -> dict[str, object]:
    """The options of a ``--config`` YAML file; ValueError naming the file and key."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of options")
    for key, value in data.items():
        if key not in CONFIG_KEYS:
            raise ValueError(f"{path}: unknown key {key!r} "
                             f"(known: {', '.join(sorted(CONFIG_KEYS))})")
        want = CONFIG_KEYS[key]
        if value is not None and (not isinstance(value, want)
                                  or (isinstance(value, bool) and want is not bool)):
            raise ValueError(f"{path}: {key}: wrong type {type(value).__name__}")
        if key == "redact" and isinstance(value, list) and \
                not all(isinstance(v, str) for v in value):
            raise ValueError(f"{path}: redact: expected a list of strings")
    return dict(data)


def _apply_config(args: argparse.Namespace) -> None:
    """Fill options not given on the command line from ``--config`` and the defaults."""
    data = read_config_file(args.config) if getattr(args, "config", None) else {}
    for key, default in _SERVE_DEFAULTS.items():
        if getattr(args, key, None) in (None, []):
            setattr(args, key, data.get(key, default))
    for key in ("data_dir", "key_file"):
        if not getattr(args, key):
            raise ValueError(f"--{key.replace('_', '-')} (or {key} in --config) is required")


def _server_config(args: argparse.Namespace) -> object:
    """The server configuration from the options, checked completely (files read,
    TLS certificate and key loaded, redaction patterns compiled)."""
    import re
    import ssl

    from gwms_core.logserver.server import ServerConfig

    _apply_config(args)
    config = _config(args)
    assert isinstance(config, ServerConfig)
    if config.certfile is None and not config.insecure_http:
        raise ValueError("--cert is required (HTTPS); --insecure-http only for local tests")
    if config.certfile is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(str(config.certfile),
                                str(config.keyfile) if config.keyfile else None)
        except ssl.SSLError as exc:
            raise ValueError(f"TLS certificate/key unusable: {exc.reason}") from None
    for pattern in config.redact_patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"redact pattern {pattern!r}: {exc}") from None
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server in the foreground."""
    from gwms_core.logserver.server import ServerConfig, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = _server_config(args)
    except (OSError, ValueError) as exc:
        _err(f"error: {exc}")
        return EXIT_INVALID
    assert isinstance(config, ServerConfig)
    run(config)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a ``--config`` file (and every file it names) or a users file; serve nothing."""
    from gwms_core.logserver.users import load_users

    try:
        if args.users_file and not args.config:
            users = load_users(args.users_file)
            sys.stdout.write(f"{args.users_file}: {len(users)} user(s)\n")
            return EXIT_OK
        if not args.config:
            _err("error: give --config FILE or --users-file FILE")
            return EXIT_INVALID
        for key in _SERVE_DEFAULTS:
            if not hasattr(args, key):
                setattr(args, key, None)
        args.insecure_http = False
        _server_config(args)
    except (OSError, ValueError) as exc:
        _err(f"error: {exc}")
        return EXIT_INVALID
    sys.stdout.write(f"{args.config}: valid\n")
    return EXIT_OK


def self_signed(names: list[str], days: int) -> tuple[bytes, bytes]:
    """A self-signed EC P-256 certificate for ``names`` (the first is the subject) and
    its key, both PEM. It is its own CA: clients trust it with ``--cacert``."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gwms log server")])
    alt: list[x509.GeneralName] = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def cmd_cert(args: argparse.Namespace) -> int:
    """Make the server's self-signed certificate and key; never overwrite either."""
    from gwms_core.fileio import write_private

    cert, key = Path(args.cert), Path(args.cert_key)
    for path in (cert, key):
        if path.exists():
            _err(f"error: {path} exists (remove it to make a new certificate)")
            return EXIT_INVALID
    cert_pem, key_pem = self_signed(args.name, args.days)
    write_private(key, key_pem)
    tmp = cert.with_name(f".{cert.name}.tmp")
    tmp.write_bytes(cert_pem)
    tmp.chmod(0o644)
    os.replace(tmp, cert)
    sys.stdout.write(f"wrote {cert} and {key} for {', '.join(args.name)} "
                     f"({args.days} days)\n")
    return EXIT_OK


def cmd_hash_password(args: argparse.Namespace) -> int:
    """Print a users-file hash of the password read from stdin (for inventories)."""
    from gwms_core.logserver.users import hash_password

    password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        _err("error: password shorter than 8 characters")
        return EXIT_INVALID
    sys.stdout.write(hash_password(password) + "\n")
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


def _storage_args(p: argparse.ArgumentParser, serve: bool = False) -> None:
    # serve: defaults come from --config, then _SERVE_DEFAULTS (see _apply_config)
    p.add_argument("--data-dir", required=not serve,
                   help="directory of stored logs and index")
    p.add_argument("--index", help="index URL: sqlite:PATH (default DATA_DIR/index.sqlite)")
    p.add_argument("--retention-days", type=float, default=None if serve else 30.0,
                   help="delete a glidein's logs this long after its last upload "
                        "(0: never; default 30)")
    p.add_argument("--retention-bytes", type=int, default=None if serve else 50 * 1024**3,
                   help="keep at most this many bytes, oldest go first (0: no limit)")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], noun: str) -> None:
    """Add the ``logserver`` noun."""
    p = sub.add_parser(noun, help="pilot log server and monitor (GlideinMonitor)",
                       description="The HTTPS service glideins upload their JSON logs to, "
                                   "with search, a REST API and web pages.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    v = verbs.add_parser("serve", help="run the log server in the foreground")
    v.add_argument("--config", help="YAML file of these options (command line wins)")
    _storage_args(v, serve=True)
    v.add_argument("--key-file", help="HMAC key file shared with the factory (required)")
    v.add_argument("--users-file", help="viewer accounts (see 'gwms logserver user')")
    v.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:8443)")
    v.add_argument("--cert", help="PEM certificate (chain) for HTTPS")
    v.add_argument("--cert-key", help="PEM private key, if not in --cert")
    v.add_argument("--insecure-http", action="store_true",
                   help="serve plain HTTP (local tests only)")
    v.add_argument("--max-upload-bytes", type=int,
                   help="largest upload body (default 16 MiB)")
    v.add_argument("--redact", action="append", default=[], metavar="REGEX",
                   help="extra pattern to redact before storing (repeatable)")
    v.add_argument("--public-metrics", action="store_const", const=True, default=None,
                   help="serve /metrics without login")
    v.set_defaults(func=cmd_serve)

    v = verbs.add_parser("validate", help="check a --config file (and the key, users, "
                                          "certificate files it names) or a users file")
    v.add_argument("--config", help="YAML configuration as for 'serve --config'")
    v.add_argument("--users-file", help="a users file alone")
    v.set_defaults(func=cmd_validate)

    v = verbs.add_parser("cert", help="make a self-signed TLS certificate and key "
                                      "(its own CA; never overwrites)")
    v.add_argument("--cert", required=True, help="certificate to write (PEM, 0644)")
    v.add_argument("--cert-key", required=True, help="private key to write (PEM, 0600)")
    v.add_argument("--name", action="append", required=True,
                   help="DNS name or IP address (repeatable; the first is the subject)")
    v.add_argument("--days", type=int, default=3650, help="validity (default %(default)s)")
    v.set_defaults(func=cmd_cert)

    v = verbs.add_parser("hash-password", help="print a users-file password hash "
                                               "(password on stdin)")
    v.set_defaults(func=cmd_hash_password)

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
