"""``gwms credentials VERB``: the factory key, its ad attributes, and a secret scan.

* ``factory-key PATH``: write a new factory private key (mode 0600) and print its id.
* ``pubkey-attrs PATH``: print the factory ad attributes publishing the public half.
* ``scan --secret FILE … PATH …``: look for the secrets (as is, base64, hex, a JWT's
  signature, PEM lines) in every file under the paths (logs, spools, ad dumps); exit 1
  and name file and form for each finding, never the secret.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from gwms_core.fileio import write_private

HELP = "factory key, its ad attributes, and a scan of files for secrets"
#: Default factory key size (``sealing.DEFAULT_KEY_BITS``; not imported here so that
#: ``gwms --help`` does not load ``cryptography``).
DEFAULT_KEY_BITS = 3072
#: Files larger than this are scanned in their first part only.
SCAN_LIMIT_BYTES = 64 * 1024 * 1024


def cmd_factory_key(args: argparse.Namespace) -> int:
    """Generate the factory key."""
    from gwms_core.credentials import sealing

    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"gwms: {path} exists (use --force to replace it)", file=sys.stderr)
        return 1
    pem = sealing.generate_factory_key(args.bits)
    write_private(path, pem)
    print(f'PubKeyID = "{sealing.key_id(sealing.public_key_pem(pem))}"')
    return 0


def cmd_pubkey_attrs(args: argparse.Namespace) -> int:
    """Print the ad attributes of a factory key's public half."""
    from gwms_core.credentials import sealing

    try:
        pem = Path(args.path).read_bytes()
    except OSError as exc:
        print(f"gwms: cannot read {args.path}: {exc.strerror}", file=sys.stderr)
        return 1
    public = pem if b"PUBLIC KEY" in pem.split(b"\n", 1)[0] else sealing.public_key_pem(pem)
    for name, value in sealing.public_key_attrs(public).items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        print(f'{name} = "{escaped}"')
    return 0


def _files(paths: list[str]) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*") if q.is_file())
        elif p.is_file():
            yield p


def cmd_scan(args: argparse.Namespace) -> int:
    """Scan files for secrets; exit 1 on any finding."""
    from gwms_core.credentials import leaks

    secrets: list[bytes] = []
    for s in args.secret:
        try:
            secrets.append(Path(s).read_bytes().strip())
        except OSError as exc:
            print(f"gwms: cannot read secret file {s}: {exc.strerror}", file=sys.stderr)
            return 2
    found = 0
    scanned = 0
    for path in _files(args.paths):
        try:
            with path.open("rb") as f:
                text = f.read(SCAN_LIMIT_BYTES).decode("utf-8", "replace")
        except OSError:
            continue
        scanned += 1
        for leak in leaks.find_leaks({str(path): text}, secrets):
            found += 1
            print(f"{leak.source}: secret from {args.secret[leak.secret_index]} ({leak.form})")
    print(f"scanned {scanned} file(s) for {len(secrets)} secret(s): {found} finding(s)",
          file=sys.stderr)
    return 1 if found else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], noun: str) -> None:
    """Add ``gwms credentials``."""
    p = sub.add_parser(noun, help=HELP, description=__doc__.split("\n\n")[0] if __doc__
                       else HELP)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    v = verbs.add_parser("factory-key", help="write a new factory RSA key (mode 0600)")
    v.add_argument("path", metavar="PATH")
    v.add_argument("--bits", type=int, default=DEFAULT_KEY_BITS)
    v.add_argument("--force", action="store_true", help="replace an existing file")
    v.set_defaults(func=cmd_factory_key)
    v = verbs.add_parser("pubkey-attrs", help="print PubKeyType/PubKeyID/PubKeyValue")
    v.add_argument("path", metavar="PATH", help="factory private or public key (PEM)")
    v.set_defaults(func=cmd_pubkey_attrs)
    v = verbs.add_parser("scan", help="look for secrets in files; exit 1 on any finding")
    v.add_argument("--secret", action="append", required=True, metavar="FILE",
                   help="a file holding one secret (token, key, proxy); repeatable")
    v.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    v.set_defaults(func=cmd_scan)
