"""The deployed end-to-end grid as a session fixture for acceptance tests (marked ``grid``).

``e2e_grid`` runs ``tests/e2e/run.sh --jobs 0`` once per pytest session: it starts (or
reuses) the containers ``<prefix>{cm,submit,slurm,ce}``, converges them with the site
playbook and leaves the factory (slurm), frontend (cm) and staging area running. Tests get
an :class:`E2EGrid` to run commands on the hosts. A test that changes the deployment
(configuration, services, queues) must put it back before it ends, so tests share one
deployment; the prefix comes from ``GWMS_E2E_PREFIX`` (default ``gwms-e2e-``).

Needs root and podman; skips otherwise (fails instead with ``GWMS_GRID_REQUIRED=1``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent / "run.sh"
REPO = RUN.parent.parent.parent
CONTAINERS_CONF = REPO / "tests" / "grid" / "containers.conf"


@dataclass(frozen=True)
class E2EGrid:
    """Commands on the deployed end-to-end grid's hosts (cm, submit, slurm, ce)."""

    prefix: str

    def container(self, host: str) -> str:
        return f"{self.prefix}{host}"

    def run(self, host: str, script: str, *, user: str | None = None, check: bool = True,
            timeout: float = 300, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a bash script on a host (as root, or as ``user`` in /tmp)."""
        cmd = ["podman", "exec"]
        if stdin is not None:
            cmd.append("-i")
        if user is not None:
            cmd += ["--user", user, "--workdir", "/tmp"]
        cmd += [self.container(host), "bash", "-c", script]
        env = dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              input=stdin, env=env, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{host}: exit {proc.returncode}: {script[:200]}\n"
                                 f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}")
        return proc

    def out(self, host: str, script: str, **kw: object) -> str:
        """Stdout of :meth:`run`, stripped."""
        return self.run(host, script, **kw).stdout.strip()  # type: ignore[arg-type]

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 300,
                 interval: float = 3) -> float:
        """Poll ``predicate`` until true; return the seconds it took, fail after ``timeout``."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if predicate():
                return time.monotonic() - t0
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


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
