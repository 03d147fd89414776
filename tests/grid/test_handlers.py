"""A configuration change reaches the running daemons by reconfig, without a restart.

Converges the execute host with one extra setting, checks that the running startd
reports it while condor_master kept its pid (reload, not restart), then converges back.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.grid

GRID_DIR = Path(__file__).resolve().parent
PREFIX = os.environ.get("GWMS_GRID_PREFIX", "gwms-")
REPO = GRID_DIR.parent.parent
EXTRA = yaml.safe_load((REPO / "inventories/local/group_vars/all.yml").read_text())[
    "condor_extra_config"
]


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(GRID_DIR / "containers.conf"))
    return env


def _converge_execute(extra_config: dict[str, object]) -> str:
    env = podman_env()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / "collections")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    proc = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(REPO / "inventories/local"),
            "gwms.glideinwms.pool",
            "--limit",
            "execute",
            "-e",
            json.dumps({"condor_extra_config": extra_config}),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _exec(command: str) -> str:
    proc = subprocess.run(
        ["podman", "exec", f"{PREFIX}execute", "/bin/bash", "-c", command],
        capture_output=True,
        text=True,
        env=podman_env(),
        timeout=60,
        check=False,
    )
    return proc.stdout.strip()


def _master_pid() -> str:
    return _exec("systemctl show --property MainPID --value condor")


def test_extra_setting_is_applied_by_reconfig_not_restart() -> None:
    if "GWMS_GRID_NO_MUTATE" in os.environ:
        pytest.skip("GWMS_GRID_NO_MUTATE set")
    pid = _master_pid()
    assert pid not in ("", "0")
    try:
        out = _converge_execute({**EXTRA, "GWMS_RECONFIG_PROBE": "42"})
        assert "RUNNING HANDLER [gwms.glideinwms.condor : Reconfig HTCondor]" in out, out
        assert "RUNNING HANDLER [gwms.glideinwms.condor : Restart HTCondor]" not in out, out
        value = ""
        for _ in range(20):
            value = _exec("condor_config_val -startd GWMS_RECONFIG_PROBE")
            if value == "42":
                break
            subprocess.run(["sleep", "1"], check=True)
        assert value == "42", "the running startd did not pick up the new setting"
        assert _master_pid() == pid, "condor was restarted; a reconfig was enough"
    finally:
        _converge_execute(EXTRA)
    assert _exec("condor_config_val GWMS_RECONFIG_PROBE") != "42"
