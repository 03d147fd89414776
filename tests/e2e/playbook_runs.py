"""Playbook runs on the deployed grid for the system acceptance tests
(test_system_acceptance.py, test_playbooks_acceptance.py): the collection's playbooks run
through ``tests/grid/converge.sh`` the way an operator would, with tests/e2e/inventory or
an edited copy of it, their PLAY RECAP parsed; and what the tests compare across runs
(files, keys and tokens, the log server's stored logs, installed versions).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from e2e_helpers import CONTAINERS_CONF, REPO, E2EGrid

INVENTORY = REPO / "tests" / "e2e" / "inventory"
CONVERGE = REPO / "tests" / "grid" / "converge.sh"
CONTROLLER_VENV = Path(os.environ.get("GWMS_E2E_VENV", "/var/tmp/gwms-grid-venv"))
FACTORY_DIR = "/var/lib/gwms-factory"
FRONTEND_DIR = "/var/lib/gwms-frontend"
VENV = "/opt/gwms/venv"
LOGSERVER_VENV = "/opt/gwms/logserver-venv"
LOGSERVER_CONF = "/etc/gwms-logserver"
LOGSERVER_DIR = "/var/lib/gwms-logserver"
# Row count of every table of the log server's SQLite index (read-only).
INDEX_ROWS = f"""import sqlite3
db = sqlite3.connect("file:{LOGSERVER_DIR}/index.sqlite?mode=ro", uri=True)
tables = [r[0] for r in db.execute(
    "select name from sqlite_master where type = 'table' and name not like 'sqlite%'")]
print(" ".join(f"{{t}}={{db.execute(f'select count(*) from {{t}}').fetchone()[0]}}"
               for t in sorted(tables)))
"""
# The log server's stored files: path -> [size, sha256].
STORED = f"""import hashlib, json, pathlib
root = pathlib.Path("{LOGSERVER_DIR}/logs")
print(json.dumps({{str(p.relative_to(root)): [p.stat().st_size,
                  hashlib.sha256(p.read_bytes()).hexdigest()]
                  for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}}))
"""
# Paths of the files STORED listed before that are gone or whose first `size` bytes changed.
PREFIX_CHECK = f"""import hashlib, json, pathlib
root = pathlib.Path("{LOGSERVER_DIR}/logs")
before = json.load(open("/tmp/acceptance-logserver-before.json"))
print(json.dumps([path for path, (size, digest) in sorted(before.items())
                  if not (root / path).is_file()
                  or hashlib.sha256((root / path).read_bytes()[:size]).hexdigest() != digest]))
"""
RECAP = re.compile(r"^(?P<host>[a-z0-9_.-]+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                   r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.M)


@dataclass(frozen=True)
class PlaybookRun:
    """One ansible-playbook run: exit status, output, PLAY RECAP per host, duration."""

    rc: int
    output: str
    recap: dict[str, dict[str, int]]
    seconds: float

    def lines(self) -> str:
        """The PLAY RECAP lines, for messages and the report."""
        return "\n".join(m.group(0) for m in RECAP.finditer(self.output))

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]


def playbook_env(grid: E2EGrid, inventory: Path, playbook: str,
                 wheelhouse: Path | None) -> dict[str, str]:
    """The environment converge.sh runs ``playbook`` with on this grid."""
    return dict(
        os.environ,
        PATH=f"{CONTROLLER_VENV}/bin:{os.environ.get('PATH', '')}",
        GWMS_INVENTORY=str(inventory),
        GWMS_PLAYBOOK=playbook,
        GWMS_WHEELHOUSE=str(wheelhouse or Path(f"/var/tmp/{grid.prefix}wheelhouse")),
        GWMS_REPO=str(REPO),
        GWMS_GRID_PREFIX=grid.prefix,
        CONTAINERS_CONF=str(CONTAINERS_CONF),
    )


def playbook(grid: E2EGrid, name: str, inventory: Path = INVENTORY,
             wheelhouse: Path | None = None) -> PlaybookRun:
    """Run ``gwms.glideinwms.<name>`` through converge.sh and parse its PLAY RECAP."""
    t0 = time.monotonic()
    proc = subprocess.run([str(CONVERGE)], capture_output=True, text=True, timeout=1800,
                          check=False,
                          env=playbook_env(grid, inventory, f"gwms.glideinwms.{name}", wheelhouse))
    out = proc.stdout + proc.stderr
    recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
             for m in RECAP.finditer(out)}
    run = PlaybookRun(proc.returncode, out, recap, time.monotonic() - t0)
    log = Path(f"/tmp/{grid.prefix}acceptance-{name}.log")
    log.write_text(out)
    print(f"\n{name} ({run.seconds:.0f} s, rc={run.rc}, output in {log}):\n{run.lines()}")
    return run


def edited_inventory(tmp: Path, factories: dict[str, Any] | None = None,
                     frontends: dict[str, Any] | None = None,
                     logservers: dict[str, Any] | None = None) -> Path:
    """A copy of tests/e2e/inventory with some group variables replaced."""
    inv = tmp / "inventory"
    shutil.rmtree(inv, ignore_errors=True)
    shutil.copytree(INVENTORY, inv)
    for group, changes in (("gwms_factories", factories), ("gwms_frontends", frontends),
                           ("gwms_logservers", logservers)):
        if changes:
            path = inv / "group_vars" / f"{group}.yml"
            data = yaml.safe_load(path.read_text())
            data.update(changes)
            path.write_text(yaml.safe_dump(data, sort_keys=False))
    return inv


def original(group: str, var: str) -> Any:
    """A group variable as tests/e2e/inventory has it."""
    return yaml.safe_load((INVENTORY / "group_vars" / f"{group}.yml").read_text())[var]


def sha256(grid: E2EGrid, host: str, *paths: str) -> dict[str, str]:
    """Path -> sha256 of files on a host."""
    out = grid.out(host, "sha256sum " + " ".join(paths))
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def secrets_fingerprints(grid: E2EGrid) -> dict[str, str]:
    """sha256 of the keys and tokens the roles create once (the secrets never leave hosts)."""
    fp = {}
    for host, paths in (
        ("slurm", [f"{FACTORY_DIR}/factory.pem", "/home/gwmsfact/.condor/tokens.d/wms",
                   "/etc/condor/tokens.d/gwms-pool"]),
        ("cm", [f"{FRONTEND_DIR}/POOL", "/home/vofrontend/.condor/tokens.d/wms",
                "/etc/condor/passwords.d/POOL", "/etc/condor/tokens.d/gwms-pool",
                f"{LOGSERVER_CONF}/upload.key", f"{LOGSERVER_CONF}/cert.pem",
                f"{LOGSERVER_CONF}/key.pem"]),
    ):
        fp.update({f"{host}:{p}": s for p, s in sha256(grid, host, *paths).items()})
    return fp


def logserver_answers(grid: E2EGrid) -> bool:
    """/healthz answers over HTTPS, checked from the factory host with its copy of the
    server's certificate (cm has no curl)."""
    return grid.run("slurm", "curl -sSf --cacert /etc/gwms/logserver-client/ca.pem "
                    "https://cm.dns.podman:8443/healthz", check=False).returncode == 0


def installed_version(grid: E2EGrid, host: str, venv: str = VENV) -> str:
    """gwms_core.__version__ in a host's virtual environment."""
    return grid.out(host, f"{venv}/bin/python -c 'import gwms_core; print(gwms_core.__version__)'")


def logserver_data(grid: E2EGrid) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """The log server's stored log files (path -> [size, sha256]; not its bookkeeping
    dot-files) and its index's row counts per table."""
    out = grid.out("cm", "python3 -", stdin=STORED)
    rows = dict(f.split("=") for f in grid.out("cm", "python3 -", stdin=INDEX_ROWS).split())
    return json.loads(out), {t: int(n) for t, n in rows.items()}


def logserver_kept(grid: E2EGrid, before: tuple[dict[str, list[Any]], dict[str, int]]) -> None:
    """Everything stored before is still there: each file starts with its old content
    (glideins and the factory only append), the index has at least the old rows."""
    grid.run("cm", "cat > /tmp/acceptance-logserver-before.json", stdin=json.dumps(before[0]))
    lost = grid.out("cm", "python3 -", stdin=PREFIX_CHECK)
    assert lost == "[]", f"stored logs lost or rewritten: {lost}"
    after = logserver_data(grid)[1]
    for table in ("files", "glideins", "lines"):
        assert after.get(table, 0) >= before[1].get(table, 0), (table, before[1], after)
    print(f"log server after: index rows {after}")


def previous_wheelhouse(grid: E2EGrid, tmp: Path) -> tuple[Path, str]:
    """The deployed wheelhouse with the gwms wheel rebuilt at a lower version (N-1)."""
    current = Path(f"/var/tmp/{grid.prefix}wheelhouse")
    src = tmp / "src"
    src.mkdir()
    subprocess.run(f"git -C {REPO} archive HEAD | tar -x -C {src}", shell=True, check=True)
    init = src / "gwms_core" / "__init__.py"
    text = init.read_text()
    version = re.search(r'__version__ = "([^"]+)"', text)
    assert version
    old = f"{version.group(1)}.dev0"  # PEP 440: lower than the release itself
    init.write_text(text.replace(version.group(0), f'__version__ = "{old}"'))
    house = tmp / "wheelhouse"
    house.mkdir()
    for whl in current.glob("*.whl"):
        if not whl.name.startswith("gwms-"):
            shutil.copy2(whl, house / whl.name)
    subprocess.run([str(CONTROLLER_VENV / "bin" / "pip"), "wheel", "-q", "--no-deps",
                    "--disable-pip-version-check", "-w", str(house), str(src)],
                   check=True, capture_output=True,
                   env=dict(os.environ, SOURCE_DATE_EPOCH="315532800"))
    return house, old
