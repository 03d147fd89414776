"""The whole system from one inventory: reconfigure, bad input, upgrade, faults (grid).

Runs on the deployed end-to-end grid (the session fixture ``e2e_grid``, see conftest.py)
and drives the collection's playbooks the way an operator would, through
``tests/grid/converge.sh`` with a copy of ``tests/e2e/inventory``:

* an inventory change (a limit, a new entry, a new frontend group) run through
  ``reconfigure.yml`` changes only the affected host, and the live services show it (the
  factory's entry ads in the WMS collector, the frontend's request ads), while a job keeps
  running on its glidein;
* a log server change (its retention) run through ``reconfigure.yml`` changes only its
  host (cm) and restarts only the log server;
* an invalid change (a limit ``"abc"``, a match expression that does not parse) fails
  before any file is written; files and service processes stay as they were;
* ``upgrade.yml`` from the previous version (the same sources with a lower version
  number) to the current wheel keeps the factory key, tokens and state, the log server's
  key, certificate and stored logs, and the job on its glidein runs on through both
  upgrades and completes;
* ``site.yml`` killed halfway and run again converges with one of each service and the
  same keys and tokens.

Host restarts (factory host, central manager) are in test_restart_acceptance.py.

Every test puts the deployment back (original inventory and wheel, jobs gone); at the end
of the module the glideins are waited out. Needs root and podman (``e2e_grid`` skips
otherwise).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_helpers import E2EGrid

pytestmark = [pytest.mark.grid, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
INVENTORY = HERE / "inventory"
CONVERGE = REPO / "tests" / "grid" / "converge.sh"
CONTAINERS_CONF = REPO / "tests" / "grid" / "containers.conf"
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
# The long job waits for this file on its worker node (slurm or ce).
RELEASE = "/etc/gwms-acceptance.release"
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


def _env(grid: E2EGrid, inventory: Path, playbook: str, wheelhouse: Path | None) -> dict[str, str]:
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
                          env=_env(grid, inventory, f"gwms.glideinwms.{name}", wheelhouse))
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
    return yaml.safe_load((INVENTORY / "group_vars" / f"{group}.yml").read_text())[var]


def main_pid(grid: E2EGrid, host: str, unit: str) -> str:
    return grid.out(host, f"systemctl show -p MainPID --value {unit}")


def sha256(grid: E2EGrid, host: str, *paths: str) -> dict[str, str]:
    out = grid.out(host, "sha256sum " + " ".join(paths))
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def entry_ads(grid: E2EGrid) -> dict[str, dict[str, str]]:
    """The factory's entry ads in the WMS collector (cm): entry -> a few attributes."""
    attrs = ["EntryName", "GlideinConfigPerEntryMaxGlideins", "GlideinConfigPerEntryMaxIdle"]
    out = grid.out("cm", "condor_status -any -const 'MyType == \"glidefactory\"' -af "
                   + " ".join(attrs))
    return {f[0]: dict(zip(attrs[1:], f[1:], strict=True))
            for f in (line.split() for line in out.splitlines()) if len(f) == len(attrs)}


def request_groups(grid: E2EGrid) -> set[str]:
    """Groups named by the frontend's request ads in the WMS collector."""
    out = grid.out("cm", "condor_status -any -const 'MyType == \"glideclient\"' -af GroupName")
    return set(out.split())


def job_state(grid: E2EGrid, cluster: str) -> tuple[str, str, str, str]:
    """JobStatus, RemoteHost, JobCurrentStartDate, NumJobStarts (queue, else history)."""
    attrs = "JobStatus RemoteHost JobCurrentStartDate NumJobStarts"
    out = grid.out("submit", f"condor_q {cluster} -af {attrs} 2>/dev/null", user="alice")
    if not out:
        out = grid.out("submit", f"condor_history {cluster} -limit 1 -af {attrs}", user="alice")
    fields = [*out.split(), "", "", "", ""][:4]
    return fields[0], fields[1], fields[2], fields[3]


def glideins_gone(grid: E2EGrid) -> bool:
    pool = grid.out("cm", "condor_status -const '!isUndefined(GLIDEIN_Entry_Name)' "
                    "-af Name | wc -l")
    live = grid.out("slurm", "condor_q -allusers -const 'JobUniverse == 9 && JobStatus != 3 "
                    "&& JobStatus != 4' -af ClusterId | wc -l")
    return pool == "0" and live == "0"


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


@pytest.fixture(scope="module")
def long_job(e2e_grid: E2EGrid) -> Iterator[str]:
    """One user job held running on a glidein until the module ends (then released).

    It waits for RELEASE on its worker node; the tests check it keeps its glidein (same
    slot, same start time) through reconfiguration and upgrade. At the end it must
    complete having started once (NumJobStarts stays 0 while the first run lasts), and
    the glideins must retire.
    """
    grid = e2e_grid
    for host in ("slurm", "ce"):
        grid.run(host, f"rm -f {RELEASE}")
    script = (f"#!/bin/sh\ni=0\nwhile [ ! -e {RELEASE} ] && [ \"$i\" -lt 1200 ]; do\n"
              "  sleep 2; i=$((i + 1))\ndone\n")
    grid.run("submit", "cat > /tmp/acceptance-long.sh && chmod 755 /tmp/acceptance-long.sh",
             user="alice", stdin=script)
    sub = """universe = vanilla
executable = /tmp/acceptance-long.sh
request_cpus = 1
request_memory = 64
request_disk = 1024
requirements = !isUndefined(TARGET.GLIDEIN_Entry_Name)
log = /tmp/acceptance-long.log
queue 1
"""
    cluster = grid.out("submit", "cat > /tmp/acceptance-long.sub && "
                       "condor_submit -terse /tmp/acceptance-long.sub | cut -d. -f1",
                       user="alice", stdin=sub)
    try:
        grid.wait_for("the long job to run on a glidein",
                      lambda: job_state(grid, cluster)[0] == "2", timeout=600, interval=5)
        yield cluster
        for host in ("slurm", "ce"):
            grid.run(host, f"touch {RELEASE}")
        grid.wait_for("the long job to complete", lambda: job_state(grid, cluster)[0] == "4",
                      timeout=300, interval=5)
        assert job_state(grid, cluster)[3] == "1", "the long job was restarted"
    finally:
        grid.run("submit", f"condor_rm {cluster} >/dev/null 2>&1 || true", user="alice")
        for host in ("slurm", "ce"):
            grid.run(host, f"touch {RELEASE}")
        grid.wait_for("the glideins to retire", lambda: glideins_gone(grid), timeout=900,
                      interval=10)
        for host in ("slurm", "ce"):
            grid.run(host, f"rm -f {RELEASE}")


def test_inventory_changes_reach_only_the_affected_service(e2e_grid: E2EGrid,
                                                            long_job: str,
                                                            tmp_path: Path) -> None:
    grid = e2e_grid
    job_before = job_state(grid, long_job)
    factory_pid = main_pid(grid, "slurm", "gwms-factory")
    frontend_files = sha256(grid, "cm", f"{FRONTEND_DIR}/frontend.yaml")
    entries = original("gwms_factories", "gwms_factory_entries")
    groups = original("gwms_frontends", "gwms_frontend_groups")
    assert entry_ads(grid)["SLURM_e2e"]["GlideinConfigPerEntryMaxGlideins"] == "8"

    # 1. A factory change: one limit lowered, one entry added -> slurm only.
    changed_entries = yaml.safe_load(yaml.safe_dump(entries))
    changed_entries["SLURM_e2e"]["limits"]["max_glideins"] = 7
    changed_entries["SLURM_e2e_extra"] = {**entries["SLURM_e2e"], "site": "E2E_Slurm_extra"}
    try:
        inv = edited_inventory(tmp_path, factories={"gwms_factory_entries": changed_entries})
        run = playbook(grid, "reconfigure", inv)
        assert run.rc == 0, run.output[-3000:]
        assert run.changed("slurm") > 0 and run.changed("cm") == 0, run.lines()
        grid.wait_for("the new limit and entry in the WMS collector", lambda: (
            (ads := entry_ads(grid)).get("SLURM_e2e", {}).get("GlideinConfigPerEntryMaxGlideins")
            == "7" and "SLURM_e2e_extra" in ads), timeout=120)
        assert main_pid(grid, "slurm", "gwms-factory") == factory_pid, "factory restarted"
        assert sha256(grid, "cm", f"{FRONTEND_DIR}/frontend.yaml") == frontend_files

        # 2. A new frontend group, factory back to the original -> both hosts.
        changed_groups = {**groups, "extra": {**groups["main"], "start_expr": "true"}}
        inv = edited_inventory(tmp_path, frontends={"gwms_frontend_groups": changed_groups})
        run = playbook(grid, "reconfigure", inv)
        assert run.rc == 0, run.output[-3000:]
        assert run.changed("slurm") > 0 and run.changed("cm") > 0, run.lines()
        assert "extra:" in grid.out("cm", f"cat {FRONTEND_DIR}/frontend.yaml")
        grid.wait_for("requests of the new group in the WMS collector",
                      lambda: "extra" in request_groups(grid), timeout=120)
        grid.wait_for("the removed entry to leave the WMS collector", lambda: (
            (ads := entry_ads(grid)).get("SLURM_e2e", {}).get("GlideinConfigPerEntryMaxGlideins")
            == "8" and "SLURM_e2e_extra" not in ads), timeout=120)
        assert main_pid(grid, "slurm", "gwms-factory") == factory_pid, "factory restarted"
    finally:
        # 3. The original inventory -> the frontend host only.
        run = playbook(grid, "reconfigure")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed("cm") > 0 and run.changed("slurm") == 0, run.lines()
    assert sha256(grid, "cm", f"{FRONTEND_DIR}/frontend.yaml") == frontend_files
    # The job kept its glidein all along: same slot, same start, started once.
    assert job_state(grid, long_job) == job_before
    assert job_before[0] == "2", job_before


def logserver_answers(grid: E2EGrid) -> bool:
    """/healthz answers over HTTPS, checked from the factory host with its copy of the
    server's certificate (cm has no curl)."""
    return grid.run("slurm", "curl -sSf --cacert /etc/gwms/logserver-client/ca.pem "
                    "https://cm.dns.podman:8443/healthz", check=False).returncode == 0


def test_logserver_change_reaches_only_the_log_server(e2e_grid: E2EGrid, tmp_path: Path) -> None:
    grid = e2e_grid
    days = original("gwms_logservers", "gwms_logserver_retention_days")
    conf = f"{LOGSERVER_CONF}/logserver.yaml"
    retention = f"grep '^retention_days:' {conf}"
    assert grid.out("cm", retention) == f"retention_days: {float(days)}"
    pids = {u: main_pid(grid, h, u) for h, u in (("slurm", "gwms-factory"),
                                                 ("cm", "gwms-frontend"),
                                                 ("cm", "gwms-logserver"))}
    files = {"slurm": sha256(grid, "slurm", f"{FACTORY_DIR}/factory.yaml",
                             f"{FACTORY_DIR}/entries.yaml"),
             "cm": sha256(grid, "cm", f"{FRONTEND_DIR}/frontend.yaml",
                          f"{LOGSERVER_CONF}/users", f"{LOGSERVER_CONF}/upload.key")}
    try:
        inv = edited_inventory(tmp_path, logservers={"gwms_logserver_retention_days": days + 2})
        run = playbook(grid, "reconfigure", inv)
        assert run.rc == 0, run.output[-3000:]
        assert run.changed("cm") > 0 and run.changed("slurm") == 0, run.lines()
        # nothing installed: reconfigure.yml skips the log server's install tasks
        assert "gwms_logserver : Install | Packages" not in run.output
        assert grid.out("cm", retention) == f"retention_days: {float(days + 2)}"
        assert main_pid(grid, "cm", "gwms-logserver") != pids["gwms-logserver"]
        assert main_pid(grid, "cm", "gwms-frontend") == pids["gwms-frontend"]
        assert main_pid(grid, "slurm", "gwms-factory") == pids["gwms-factory"]
        grid.wait_for("the log server to answer", lambda: logserver_answers(grid), timeout=60)
    finally:
        run = playbook(grid, "reconfigure")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed("cm") > 0 and run.changed("slurm") == 0, run.lines()
    assert grid.out("cm", retention) == f"retention_days: {float(days)}"
    assert {"slurm": sha256(grid, "slurm", *files["slurm"]),
            "cm": sha256(grid, "cm", *files["cm"])} == files
    assert main_pid(grid, "cm", "gwms-frontend") == pids["gwms-frontend"]
    assert main_pid(grid, "slurm", "gwms-factory") == pids["gwms-factory"]
    grid.wait_for("the log server to answer", lambda: logserver_answers(grid), timeout=60)


@pytest.mark.parametrize("change", ["factory limit 'abc'", "frontend match_expr"])
def test_invalid_change_fails_before_anything_is_applied(e2e_grid: E2EGrid, change: str,
                                                         tmp_path: Path) -> None:
    grid = e2e_grid
    if change.startswith("factory"):
        entries = original("gwms_factories", "gwms_factory_entries")
        entries["SLURM_e2e"]["limits"]["max_glideins"] = "abc"
        inv = edited_inventory(tmp_path, factories={"gwms_factory_entries": entries})
        expect = "max_glideins: expected integer"
    else:
        groups = original("gwms_frontends", "gwms_frontend_groups")
        groups["main"]["match_expr"] = "glidein.GLIDEIN_CPUS >= job.RequestCpus &&"
        inv = edited_inventory(tmp_path, frontends={"gwms_frontend_groups": groups})
        expect = "does not parse"
    files = {"slurm": [f"{FACTORY_DIR}/entries.yaml", f"{FACTORY_DIR}/factory.yaml"],
             "cm": [f"{FRONTEND_DIR}/frontend.yaml"]}
    before = {h: sha256(grid, h, *p) for h, p in files.items()}
    pids = (main_pid(grid, "slurm", "gwms-factory"), main_pid(grid, "cm", "gwms-frontend"))

    run = playbook(grid, "reconfigure", inv)

    assert run.rc != 0, run.lines()
    assert expect in run.output, run.output[-3000:]
    assert all(r["changed"] == 0 for r in run.recap.values()), run.lines()
    assert {h: sha256(grid, h, *p) for h, p in files.items()} == before
    assert (main_pid(grid, "slurm", "gwms-factory"), main_pid(grid, "cm", "gwms-frontend")) == pids
    grid.run("slurm", "systemctl is-active -q gwms-factory gwms-staging")
    grid.run("cm", "systemctl is-active -q gwms-frontend")


def installed_version(grid: E2EGrid, host: str, venv: str = VENV) -> str:
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


def test_upgrade_from_previous_version_keeps_state_and_glideins(e2e_grid: E2EGrid,
                                                                long_job: str,
                                                                tmp_path: Path) -> None:
    grid = e2e_grid
    new = installed_version(grid, "slurm")
    house, old = previous_wheelhouse(grid, tmp_path)
    secrets = secrets_fingerprints(grid)
    job_before = job_state(grid, long_job)
    state = f"{FACTORY_DIR}/factory-state.json"
    submitted = (f"python3 -c 'import json; "
                 f"print(json.load(open(\"{state}\"))[\"counters\"][\"submitted\"])'")
    before = int(grid.out("slurm", submitted))
    assert before > 0
    logs = logserver_data(grid)
    print(f"\nlog server before: {len(logs[0])} stored files, index rows {logs[1]}")
    try:
        down = playbook(grid, "upgrade", wheelhouse=house)
        assert down.rc == 0, down.output[-3000:]
        assert installed_version(grid, "slurm") == old and installed_version(grid, "cm") == old
        assert installed_version(grid, "cm", LOGSERVER_VENV) == old
    finally:
        up = playbook(grid, "upgrade")
    assert up.rc == 0, up.output[-3000:]
    assert up.changed("slurm") > 0 and up.changed("cm") > 0, up.lines()
    assert installed_version(grid, "slurm") == new and installed_version(grid, "cm") == new
    assert installed_version(grid, "cm", LOGSERVER_VENV) == new
    grid.run("slurm", "systemctl is-active -q gwms-factory gwms-staging")
    grid.run("cm", "systemctl is-active -q gwms-frontend gwms-logserver")
    assert secrets_fingerprints(grid) == secrets
    # the log server kept what it stored (glideins that ended meanwhile added to it)
    logserver_kept(grid, logs)
    assert logserver_answers(grid)
    # the factory's state was kept (its counters count on), the job's glidein still runs it
    assert int(grid.out("slurm", submitted)) >= before
    assert job_state(grid, long_job) == job_before
    slot = job_before[1]
    assert grid.out("cm", f"condor_status -const 'Name == \"{slot}\"' -af State") == "Claimed"


def test_interrupted_site_playbook_converges_without_duplicates(e2e_grid: E2EGrid) -> None:
    grid = e2e_grid
    secrets = secrets_fingerprints(grid)
    tokens = {h: grid.out(h, "ls /etc/condor/tokens.d") for h in ("cm", "submit", "slurm", "ce")}
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([str(CONVERGE)], stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True,
                                env=_env(grid, INVENTORY, "gwms.glideinwms.site", None))
        # Halfway: in the pool's security tasks (signing key, host tokens), with the
        # factory key, WMS tokens and services still ahead.
        t0 = time.monotonic()
        while proc.poll() is None and time.monotonic() - t0 < 900:
            log.seek(0)
            if "gwms.glideinwms.condor : Security | " in log.read():
                break
            time.sleep(1)
        assert proc.poll() is None, "site.yml ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"\nsite.yml killed after {time.monotonic() - t0:.0f} s")
    run = playbook(grid, "site")
    assert run.rc == 0, run.output[-3000:]
    assert set(run.recap) == {"cm", "submit", "slurm", "ce"}, run.lines()
    assert secrets_fingerprints(grid) == secrets
    assert {h: grid.out(h, "ls /etc/condor/tokens.d") for h in tokens} == tokens
    # one of each service process (anchored: not the bash -c that runs pgrep; the
    # glideins' condor_masters are children of their startup script), one ad per entry
    assert grid.out("slurm", f"pgrep -cf '^{VENV}/bin/python {VENV}/bin/gwms factory run'") == "1"
    assert grid.out("slurm", "pgrep -cf '^/usr/bin/python3 -m http.server 8080'") == "1"
    assert grid.out("cm", f"pgrep -cf '^{VENV}/bin/python {VENV}/bin/gwms frontend run'") == "1"
    assert grid.out("slurm", "pgrep -c -P 1 -x condor_master") == "1"
    assert grid.out("cm", "pgrep -c -P 1 -x condor_master") == "1"
    names = grid.out("cm", "condor_status -any -const 'MyType == \"glidefactory\"' -af Name")
    assert sorted(names.split()) == sorted(set(names.split())), names
    assert len(names.split()) == len(original("gwms_factories", "gwms_factory_entries"))

