"""Commands on the deployed end-to-end grid's hosts: :class:`E2EGrid` (see conftest.py)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
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

    def copy(self, host: str, src: Path, dest: str) -> None:
        """Copy a file or directory of this machine to ``dest`` on a host (podman cp)."""
        subprocess.run(["podman", "cp", str(src), f"{self.container(host)}:{dest}"],
                       check=True, capture_output=True, timeout=300,
                       env=dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF)))

    def out(self, host: str, script: str, **kw: object) -> str:
        """Stdout of :meth:`run`, stripped."""
        return self.run(host, script, **kw).stdout.strip()  # type: ignore[arg-type]

    def wait_for(self, what: str | Callable[[], str], predicate: Callable[[], bool],
                 timeout: float = 300, interval: float = 3) -> float:
        """Poll ``predicate`` until true; return the seconds it took, fail after ``timeout``
        naming ``what`` (a callable is called then, to describe the state at the time)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if predicate():
                return time.monotonic() - t0
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for "
                             f"{what() if callable(what) else what}")
