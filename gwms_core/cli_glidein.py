"""``gwms glidein manual``: the exact command that starts a glidein by hand on a node.

"Glideins in a vacuum": an operator debugging a site runs the pilot on a worker node
with the same command line the factory would submit. The entry comes from the factory's
entry ad (a JSON file of the ``glidefactory`` ad, e.g. ``condor_status -any -json``
output, or the ad queried from the WMS collector); the manifest digest is read from the
factory's own staging directory (trusted, local), never from the web server.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_INVALID = 1


def manual_command(ad: Mapping[str, Any], pilot: str, manifest_url: str, manifest_sha256: str,
                   collector: str = "", token_file: str = "",
                   extra: Sequence[str] = ()) -> list[str]:
    """The pilot command line for the entry of ``ad`` (a ``glidefactory`` ad).

    Uses ``FactoryName``, ``EntryName``, ``GLIDEIN_Site``, ``GLIDEIN_Max_Walltime``,
    ``GLIDEIN_CPUS`` and ``GLIDEIN_MaxMemMBs``; raises ``KeyError`` naming a missing one.
    """
    for key in ("FactoryName", "EntryName", "GLIDEIN_Site"):
        if key not in ad:
            raise KeyError(f"entry ad has no {key}")
    cmd = [pilot, "--manifest-url", manifest_url, "--manifest-sha256", manifest_sha256,
           "--factory", str(ad["FactoryName"]), "--entry", str(ad["EntryName"]),
           "--site", str(ad["GLIDEIN_Site"])]
    if "GLIDEIN_Max_Walltime" in ad:
        cmd += ["--walltime", str(int(ad["GLIDEIN_Max_Walltime"]))]
    if collector:
        cmd += ["--collector", collector]
    if token_file:
        cmd += ["--token-file", token_file]
    if "GLIDEIN_CPUS" in ad:
        cmd += ["--param", f"GLIDEIN_CPUS={int(ad['GLIDEIN_CPUS'])}"]
    if "GLIDEIN_MaxMemMBs" in ad:
        cmd += ["--param", f"GLIDEIN_MEMORY={int(ad['GLIDEIN_MaxMemMBs'])}"]
    return [*cmd, *extra]


def _load_ad(path: str, entry: str) -> dict[str, Any]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    ads = data if isinstance(data, list) else [data]
    for ad in ads:
        if isinstance(ad, dict) and (not entry or ad.get("EntryName") == entry):
            return ad
    raise KeyError(f"no entry ad{' for ' + entry if entry else ''} in {path}")


def _query_ad(wms_collector: str, entry: str) -> dict[str, Any]:
    import htcondor2

    coll = htcondor2.Collector(wms_collector)
    ads = coll.query(htcondor2.AdType.Any,
                     constraint=f'MyType == "glidefactory" && EntryName == "{entry}"')
    if not ads:
        raise KeyError(f"no glidefactory ad for entry {entry} at {wms_collector}")
    return {k: ads[0].eval(k) for k in ads[0]}


def cmd_manual(args: argparse.Namespace) -> int:
    """Print (and with --run, run) the pilot command for one entry."""
    from gwms_core.staging import MANIFEST_NAME, read_manifest

    try:
        ad = (_load_ad(args.entry_ad, args.entry) if args.entry_ad
              else _query_ad(args.wms_collector, args.entry))
        digest = read_manifest(Path(args.staging_dir)).digest
        pilot = args.pilot or str(Path(args.staging_dir) / "glidein_startup.sh")
        cmd = manual_command(ad, pilot, f"{args.staging_url.rstrip('/')}/{MANIFEST_NAME}",
                             digest, args.collector or "", args.token_file or "",
                             args.extra)
    except (KeyError, OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_INVALID
    sys.stdout.write(shlex.join(cmd) + "\n")
    if args.run:
        return subprocess.run(cmd, check=False).returncode
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], noun: str) -> None:
    """Add the ``glidein`` noun."""
    p = sub.add_parser(noun, help="glidein tools (manual start)",
                       description="Tools around the glidein pilot.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    m = verbs.add_parser(
        "manual", help="print (or run) the command that starts a glidein by hand",
        description="Print the exact glidein_startup.sh command line for an entry, from "
                    "the factory's entry ad and its staging directory; --run runs it. "
                    "Exit codes: 0 ok (or the pilot's status with --run), 1 bad input.")
    src = m.add_mutually_exclusive_group(required=True)
    src.add_argument("--entry-ad", help="JSON file with the glidefactory ad(s)")
    src.add_argument("--wms-collector", help="WMS collector to query the entry ad from")
    m.add_argument("--entry", default="", help="entry name (required with --wms-collector)")
    m.add_argument("--staging-dir", required=True, help="the factory's staging directory")
    m.add_argument("--staging-url", required=True, help="URL the staging directory is served at")
    m.add_argument("--collector", help="pool collector for the startd (--collector)")
    m.add_argument("--token-file", help="IDTOKEN file on the node (--token-file)")
    m.add_argument("--pilot", help="pilot path on the node (default: the staged one)")
    m.add_argument("--run", action="store_true", help="run the command after printing it")
    m.add_argument("extra", nargs="*", help="more pilot options after --, e.g. -- "
                                            "--validate-only")
    m.set_defaults(func=cmd_manual)
