"""The deployed end-to-end grid as a session fixture for acceptance tests (marked ``grid``).

``e2e_grid`` runs ``tests/e2e/run.sh --jobs 0`` once per pytest session: it starts (or
reuses) the containers ``<prefix>{cm,submit,slurm,ce}``, converges them with the site
playbook and leaves the factory (slurm), frontend (cm) and staging area running. Tests get
an :class:`E2EGrid` (from e2e_helpers.py, where tests import it) to run commands on the
hosts. A test that changes the deployment (configuration, services, queues) must put it
back before it ends, so tests share one deployment; the prefix comes from
``GWMS_E2E_PREFIX`` (default ``gwms-e2e-``).

Needs root and podman; skips otherwise (fails instead with ``GWMS_GRID_REQUIRED=1``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import E2EGrid

RUN = Path(__file__).resolve().parent / "run.sh"


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (rootful podman)"
    if shutil.which("podman") is None:
        return "podman is not installed"
    return None


@pytest.fixture(scope="session")
def e2e_grid() -> Iterator[E2EGrid]:
    """The deployed end-to-end grid (deployed once per session by run.sh --jobs 0)."""
    reason = _unavailable()
    if reason:
        if os.environ.get("GWMS_GRID_REQUIRED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    prefix = os.environ.get("GWMS_E2E_PREFIX", "gwms-e2e-")
    proc = subprocess.run([str(RUN), "--jobs", "0"], capture_output=True, text=True,
                          timeout=3600, check=False,
                          env=dict(os.environ, GWMS_E2E_PREFIX=prefix))
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, f"tests/e2e/run.sh --jobs 0 failed:\n{tail}"
    yield E2EGrid(prefix=prefix)
