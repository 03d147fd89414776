"""Bad input stops the roles in their preflight, with one clear message, before any change.

Runs the real playbook (``gwms.glideinwms.pool``) against the running local grid with one
bad variable at a time and checks the failure message and that no host changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.grid

GRID_DIR = Path(__file__).resolve().parent
REPO = GRID_DIR.parent.parent


def converge(*extra: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("ansible-playbook") is None:
        pytest.skip("ansible-playbook is not installed (tests/grid/requirements.txt)")
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(GRID_DIR / "containers.conf"))
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / "collections")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(REPO / "inventories" / "local"),
            "gwms.glideinwms.pool",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def _recap(output: str) -> dict[str, dict[str, int]]:
    recap: dict[str, dict[str, int]] = {}
    for match in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE):
        recap[match.group(1)] = {
            key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2))
        }
    return recap


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        (
            '{"condor_roles": ["central_manager", "bogus"]}',
            "unknown pool role(s) bogus; known roles: central_manager, submit, execute, ce",
        ),
        (
            '{"condor_signing_key_host": "nohost"}',
            'missing signing key source: condor_signing_key_host "nohost" is not a host of'
            " the inventory",
        ),
        (
            '{"condor_signing_key_source": "file", "condor_signing_key_file": "/nonexistent/POOL"}',
            'missing signing key source: condor_signing_key_file "/nonexistent/POOL"',
        ),
        (
            '{"condor_shared_port": 22}',
            "conflicting ports: 22 also in condor_reserved_ports",
        ),
        (
            '{"condor_install_method": "htcondor_repo"}',
            "unsupported OS Debian 13 for condor_install_method=htcondor_repo",
        ),
    ],
    ids=["unknown-role", "key-host-absent", "key-file-missing", "port-conflict", "unsupported-os"],
)
def test_condor_preflight_fails_before_any_change(extra_vars: str, message: str) -> None:
    proc = converge("-e", extra_vars)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert message in output, output
    recap = _recap(proc.stdout)
    assert recap, output
    assert all(counts["changed"] == 0 for counts in recap.values()), recap
    # any_errors_fatal: the play stops for every host, the Slurm play never starts.
    assert "slurm" not in recap, recap


def test_slurm_preflight_rejects_overlapping_ports() -> None:
    proc = converge("--limit", "slurm", "-e", '{"slurm_site_slurmctld_port": 17002}')
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "conflicting ports: slurmctld port 17002 falls in the slurmd range 17001-17004" in output
    assert _recap(proc.stdout)["slurm"]["changed"] == 0
