"""``gwms glidein manual``: the printed command is the one that starts a glidein."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from glidein_helpers import GLIDEIN

from gwms_core import staging
from gwms_core.cli_glidein import manual_command

AD = {"MyType": "glidefactory", "FactoryName": "fact1", "EntryName": "slurm_site",
      "GLIDEIN_Site": "TEST_SITE", "GLIDEIN_Max_Walltime": 7200, "GLIDEIN_CPUS": 1,
      "GLIDEIN_MaxMemMBs": 800}


def test_manual_command_from_an_entry_ad() -> None:
    cmd = manual_command(AD, "/p/glidein_startup.sh", "http://w/s/manifest.sha256", "ab" * 32,
                         collector="cm:9618", token_file="tok", extra=["--validate-only"])
    assert cmd == ["/p/glidein_startup.sh", "--manifest-url", "http://w/s/manifest.sha256",
                   "--manifest-sha256", "ab" * 32, "--factory", "fact1", "--entry",
                   "slurm_site", "--site", "TEST_SITE", "--walltime", "7200",
                   "--collector", "cm:9618", "--token-file", "tok",
                   "--param", "GLIDEIN_CPUS=1", "--param", "GLIDEIN_MEMORY=800",
                   "--validate-only"]


def test_manual_run_starts_a_glidein_that_validates(tmp_path: Path, serve) -> None:
    stage = tmp_path / "stage"
    staging.build_staging(staging.glidein_files(GLIDEIN, params={"GLIDEIN_MIN_DISK_MB": 1}),
                          stage)
    url = serve(stage)
    ad_file = tmp_path / "ads.json"
    ad_file.write_text(json.dumps([{**AD, "EntryName": "other"}, AD]))
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "gwms_core.cli", "glidein", "manual", "--entry-ad", str(ad_file),
         "--entry", "slurm_site", "--staging-dir", str(stage), "--staging-url", url,
         "--run", "--", "--validate-only", "--keep-work-dir"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                          "TMPDIR": str(tmp_path / "tmp")})
    assert proc.returncode == 0, proc.stderr
    printed = shlex.split(proc.stdout.splitlines()[0])
    assert printed[printed.index("--entry") + 1] == "slurm_site"
    assert printed[printed.index("--manifest-sha256") + 1] == staging.read_manifest(stage).digest
    (work,) = (tmp_path / "tmp").glob("glidein.*")
    attrs = (work / "glidein.attrs").read_text().splitlines()
    assert "GLIDEIN_Entry_Name=slurm_site" in attrs and "GLIDEIN_MEMORY=800" in attrs


def test_manual_refuses_a_missing_entry(tmp_path: Path) -> None:
    ad_file = tmp_path / "ads.json"
    ad_file.write_text(json.dumps(AD))
    proc = subprocess.run(
        [sys.executable, "-m", "gwms_core.cli", "glidein", "manual", "--entry-ad", str(ad_file),
         "--entry", "nope", "--staging-dir", str(tmp_path), "--staging-url", "http://x"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "no entry ad for nope" in proc.stderr
