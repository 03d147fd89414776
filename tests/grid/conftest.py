"""Grid tests need the running local grid: skip without it, or fail when it is required."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

GRID_DIR = Path(__file__).resolve().parent
PREFIX = os.environ.get("GWMS_GRID_PREFIX", "gwms-")
HOSTS = ("cm", "submit", "execute", "ce", "slurm")


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(GRID_DIR / "containers.conf"))
    return env


def _grid_running() -> str | None:
    """None when every grid container runs, else the reason it does not."""
    if shutil.which("podman") is None:
        return "podman is not installed"
    for host in HOSTS:
        proc = subprocess.run(
            ["podman", "container", "inspect", "--format", "{{.State.Status}}", f"{PREFIX}{host}"],
            capture_output=True,
            text=True,
            env=podman_env(),
            check=False,
        )
        if proc.returncode != 0 or proc.stdout.strip() != "running":
            return f"container {PREFIX}{host} is not running (tests/grid/up.sh starts it)"
    return None


@pytest.fixture(scope="session")
def _grid_state() -> str | None:
    return _grid_running()


@pytest.fixture(autouse=True)
def grid(request: pytest.FixtureRequest, _grid_state: str | None) -> None:
    """Skip (or fail, when required) tests marked ``grid`` while the grid is down."""
    reason = _grid_state
    if reason is None or request.node.get_closest_marker("grid") is None:
        return
    if os.environ.get("GWMS_GRID_REQUIRED") == "1":
        pytest.fail(f"the local grid is required but not up: {reason}")
    pytest.skip(f"local grid not up: {reason}")
