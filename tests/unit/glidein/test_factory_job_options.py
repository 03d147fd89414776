"""The glidein learns its factory job (--schedd, --cluster, --proc, --credential-id) and
advertises it (GLIDEIN_Schedd, GLIDEIN_ClusterId, GLIDEIN_ProcId,
GLIDEIN_CredentialIdentifier): what the frontend's GlideinsInPool is built from."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gwms_core import staging

GLIDEIN = Path(__file__).resolve().parents[3] / "glidein"
SHA = "0" * 64

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def parse(*args: str) -> subprocess.CompletedProcess[str]:
    script = ('source "$1"; shift; gwms_args_parse "$@"; rc=$?; '
              'printf "%s|%s|%s|%s" "$GWMS_OPT_SCHEDD" "$GWMS_OPT_CLUSTER" "$GWMS_OPT_PROC" '
              '"$GWMS_OPT_CREDENTIAL_ID"; exit $rc')
    return subprocess.run(["bash", "-c", script, "parse", str(GLIDEIN / "lib/args.sh"),
                           "--manifest-url", "u", "--manifest-sha256", SHA, *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("args", "rc", "out"), [
    ((), 0, "|||"),
    (("--schedd", "s@h", "--cluster", "12", "--proc", "3", "--credential-id", "k2"), 0,
     "s@h|12|3|k2"),
    (("--cluster=7", "--proc=0"), 0, "|7|0|"),
    (("--cluster", "$(Cluster)"), 2, None),   # an unexpanded submit macro is refused
    (("--proc", "-1"), 2, None),
    (("--schedd",), 2, None),
])
def test_parse(args: tuple[str, ...], rc: int, out: str | None) -> None:
    run = parse(*args)
    assert run.returncode == rc, run.stderr
    if out is not None:
        assert run.stdout == out
    else:
        assert "glidein_startup.sh:" in run.stderr


@pytest.fixture
def served(tmp_path: Path, serve: Any) -> tuple[str, str]:
    """A real staging area served by python -m http.server: (manifest URL, digest)."""
    files = staging.glidein_files(GLIDEIN, params={"GLIDEIN_MIN_DISK_MB": 1})
    out = tmp_path / "stage"
    manifest = staging.build_staging(files, out)
    return f"{serve(out)}/{staging.MANIFEST_NAME}", manifest.digest


def test_pilot_advertises_its_factory_job(served: tuple[str, str], tmp_path: Path) -> None:
    url, digest = served
    parent = tmp_path / "tmp"
    parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GWMS_")}
    env.update({"TMPDIR": str(parent), "GWMS_FETCH_DELAY": "0", "GWMS_FETCH_TRIES": "2"})
    run = subprocess.run(
        [str(GLIDEIN / "glidein_startup.sh"), "--manifest-url", url, "--manifest-sha256",
         digest, "--validate-only", "--keep-work-dir", "--schedd", "schedd@f.example",
         "--cluster", "42", "--proc", "1", "--credential-id", "cred-a"],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    (work,) = sorted(parent.glob("glidein.*"))
    attrs = dict(line.split("=", 1) for line in (work / "glidein.attrs").read_text().splitlines())
    assert (attrs["GLIDEIN_Schedd"], attrs["GLIDEIN_ClusterId"], attrs["GLIDEIN_ProcId"],
            attrs["GLIDEIN_CredentialIdentifier"]) == ("schedd@f.example", "42", "1", "cred-a")
