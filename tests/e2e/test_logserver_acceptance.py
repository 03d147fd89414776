"""Acceptance of the pilot log server on the deployed end-to-end grid (issue 11).

The grid of tests/e2e/run.sh, converged by the site playbook: the log server (role
gwms_logserver) runs on cm at https://cm.dns.podman:8443; the factory on slurm holds its
upload key and certificate (tasks_from factory_client) and gives each glidein a token, its
log URL and the certificate as the CA to trust.

* A succeeding glidein: one user job on submit makes the frontend ask, the factory submits
  glideins (HTCondor-G to Slurm or to the CE), the job runs, the glideins retire when idle
  and flush their JSON logs at exit: each is in the log server, status ``succeeded``.
* A failing glidein: started by hand on the slurm host with ``gwms glidein manual`` from a
  private staging area holding one more group-level script that prints a distinctive word
  and exits 1 (validation failure); its token is minted with the factory host's copy of
  the upload key and it trusts the server with the factory host's copy of the CA. It is
  found by full-text search for that word through the REST API, with the script named.
* The web page is driven in headless Chromium against the grid's server (login, search,
  the glidein page); screenshots go to tests/artifacts/.

Printed: seconds from each glidein's end (its last record) to its log being visible in
the API. The test removes its job, waits until its glideins are gone, deletes the logs it
caused (admin account) and its files on slurm.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "logserver"))
from logserver_helpers import CHROMIUM, FLAGS, browser_login

pytestmark = [pytest.mark.grid, pytest.mark.slow]

SERVER = "https://cm.dns.podman:8443"
CLIENT_DIR = "/etc/gwms/logserver-client"  # on the factory host (slurm)
VIEWER = ("e2e-viewer", "e2e-viewer-password")  # tests/e2e/inventory/group_vars
ADMIN = ("e2e-admin", "e2e-admin-password")
WORD = "glimmerquark"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ENTRIES = ("SLURM_e2e", "CE_e2e")


def api(grid: Any, path: str, method: str = "GET", who: tuple[str, str] = VIEWER) -> Any:
    """JSON answer of the REST API, asked with curl on slurm, verifying the server with
    the factory host's copy of its certificate (the password goes through curl's config
    on stdin, never on a command line)."""
    out = grid.out("slurm", f"curl -sS --fail-with-body --cacert {CLIENT_DIR}/ca.pem -K - "
                            f"-X {method} {shlex.quote(SERVER + path)}",
                   stdin=f'user = "{who[0]}:{who[1]}"\n')
    return json.loads(out) if out else None


def glideins(grid: Any, since: float, **filters: str) -> list[dict[str, Any]]:
    query = urlencode({"since": f"{since:.0f}", "limit": "200", **filters})
    return list(api(grid, f"/api/v1/glideins?{query}")["glideins"])


def factory_live(grid: Any) -> int:
    return int(grid.out("slurm", "condor_q -allusers -const 'JobUniverse == 9 && "
                                 "JobStatus != 3 && JobStatus != 4' -af ClusterId | wc -l"))


def pool_glideins(grid: Any) -> int:
    return int(grid.out("cm", "condor_status -const '!isUndefined(GLIDEIN_Entry_Name)' "
                              "-af Name | wc -l"))


def settled(grid: Any) -> bool:
    """No glidein at the factory, in the pool, in Slurm or at the CE."""
    return (factory_live(grid) == 0 and pool_glideins(grid) == 0
            and grid.out("slurm", "squeue -h | wc -l") == "0"
            and grid.out("ce", "condor_q -allusers -af ClusterId | wc -l") == "0")


FAILING_STAGE = r"""
set -Eeuo pipefail
rm -rf "$D" && mkdir -p "$D/sandbox" "$D/work"
/opt/gwms/venv/bin/python - "$D" "$WORD" <<'EOF'
import sys
from pathlib import Path
from gwms_core import staging
d, word = Path(sys.argv[1]), sys.argv[2]
script = (f"#!/bin/bash\nprintf 'scratch check: {word} sector unreadable\\n'\n"
          "exit 1\n").encode()
files = staging.glidein_files(
    Path("/opt/gwms/glidein"),
    scripts=(*staging.BUILTIN_SCRIPTS, staging.Script("vo/check_scratch.sh", "group", 10)),
    params={"GLIDEIN_MIN_DISK_MB": 1}, extra={"vo/check_scratch.sh": script})
staging.build_staging(files, d / "stage")
EOF
gwms logserver token --key-file "$CLIENT_DIR/upload.key" --entry SLURM_e2e \
  --glidein "$GLIDEIN" > "$D/sandbox/gwms_log.token"
chmod 600 "$D/sandbox/gwms_log.token"
cp "$CLIENT_DIR/ca.pem" "$D/sandbox/gwms_log_ca.pem"
"""

FAILING_RUN = r"""
set -Eeuo pipefail
cd "$D/sandbox"
SSL_CERT_FILE=gwms_log_ca.pem TMPDIR="$D/work" gwms glidein manual \
  --wms-collector cm.dns.podman --entry SLURM_e2e \
  --staging-dir "$D/stage" --staging-url "file://$D/stage" --run -- \
  --glidein-id "$GLIDEIN" --validate-only --failure-sleep 0 \
  --log-url "$URL" --log-token-file gwms_log.token
"""


def test_glidein_logs_reach_the_log_server(e2e_grid: Any) -> None:
    grid = e2e_grid
    t0 = time.time() - 5
    run_id = uuid.uuid4().hex[:8]
    ours: list[tuple[str, str]] = []
    cluster = ""
    failing = f"manual-{run_id}"
    d = f"/tmp/gwms-logserver-acceptance-{run_id}"
    env = (f"D={d} WORD={WORD} GLIDEIN={failing} CLIENT_DIR={CLIENT_DIR} "
           f"URL={SERVER}/logs/SLURM_e2e/{failing}/glidein.jsonl ")
    assert settled(grid), "the grid has glideins before the test: not a clean start"
    grid.run("slurm", f"install -d -o gwmsfact -m 700 {d}")
    try:
        # --- the server is up and trusted the way a glidein trusts it: SSL_CERT_FILE
        # names the copy of its certificate the factory ships (curl reads it)
        grid.run("slurm", f"cp {CLIENT_DIR}/ca.pem {d}/ca.pem && cd {d} && "
                          f"SSL_CERT_FILE=ca.pem curl -sS --fail {SERVER}/healthz", user="gwmsfact")
        bad = grid.run("slurm", f"curl -sS {SERVER}/healthz", check=False)
        assert bad.returncode == 60, bad  # not trusted without it (self-signed)
        # --- succeeding glideins: one job, the whole factory path
        grid.run("submit", "cat > /tmp/lgacc.sub <<'EOF'\nuniverse = vanilla\n"
                           "executable = /bin/sleep\narguments = 5\nrequest_cpus = 1\n"
                           "request_memory = 64\nrequest_disk = 1024\n"
                           "requirements = !isUndefined(TARGET.GLIDEIN_Entry_Name)\n"
                           "queue 1\nEOF\ncondor_submit -terse /tmp/lgacc.sub",
                 user="alice")
        cluster = grid.out("submit", "condor_q -af ClusterId | tail -1", user="alice")
        # --- the failing glidein, by hand on the worker node, meanwhile
        grid.run("slurm", env + FAILING_STAGE, user="gwmsfact")
        t_fail0 = time.time()
        proc = grid.run("slurm", env + FAILING_RUN, user="gwmsfact", check=False,
                        timeout=300)
        assert proc.returncode == 1, (proc.stdout[-1500:], proc.stderr[-1500:])
        ours.append(("SLURM_e2e", failing))

        def failed_visible() -> bool:
            rows = glideins(grid, t0, entry="SLURM_e2e", status="failed")
            return any(r["glidein"] == failing for r in rows)

        grid.wait_for("the failing glidein in the API", failed_visible, timeout=60,
                      interval=1)
        t_fail_seen = time.time()
        rows = [r for r in glideins(grid, t0, entry="SLURM_e2e") if r["glidein"] == failing]
        row = rows[0]
        assert row["failing_script"] == "vo/check_scratch.sh", row
        assert row["exit_status"] == 1 and row["status"] == "failed", row
        hits = api(grid, "/api/v1/search?" + urlencode({"q": WORD, "since": f"{t0:.0f}"}))
        found = {(h["entry"], h["glidein"]) for h in hits["hits"]}
        assert found == {("SLURM_e2e", failing)}, hits
        assert any(WORD in h["text"] and "sector unreadable" in h["text"]
                   for h in hits["hits"]), hits
        print(f"\nLOGSERVER failing glidein: pilot run {t_fail_seen - t_fail0:.1f} s, "
              f"end->visible {t_fail_seen - row['end']:.1f} s "
              f"(upload stored {row['updated'] - row['end']:.1f} s after its end)")

        # --- the factory's glideins: wait for the job, then for them to retire
        def job_done() -> bool:
            return grid.out("submit", f"condor_history -const 'ClusterId == {cluster}' "
                                      "-af JobStatus", user="alice") == "4"

        grid.wait_for("the user job to run on a glidein", job_done, timeout=240, interval=3)
        grid.wait_for("the glideins to retire", lambda: settled(grid), timeout=360,
                      interval=3)
        t_gone = time.time()

        def factory_logs() -> list[dict[str, Any]]:
            return [r for e in ENTRIES for r in glideins(grid, t0, entry=e)
                    if not r["glidein"].startswith("manual-")]

        grid.wait_for("the factory's glideins' logs", lambda: bool(factory_logs()),
                      timeout=60, interval=2)
        t_seen = time.time()
        logs = factory_logs()
        ours += [(r["entry"], r["glidein"]) for r in logs]
        done = [r for r in logs if r["status"] != "running"]
        assert done, logs
        for r in done:
            # <GwmsSubmissionId>.<ProcId>: the name the factory minted the token for
            assert r["glidein"].rsplit(".", 1)[1].isdigit(), r
            # the node from the pilot's start record (this pilot writes no attrs, so
            # factory/frontend stay empty until it does)
            assert r["node"] and r["start"] and r["end"], r
        ok = [r for r in done if r["status"] == "succeeded"]
        assert ok, done
        lags = [r["updated"] - r["end"] for r in done if r["end"]]
        print(f"LOGSERVER factory glideins: {len(done)} with logs ({len(ok)} succeeded) "
              f"at {sorted({r['entry'] for r in done})}; stored "
              f"{min(lags):.1f}..{max(lags):.1f} s after their end; all visible "
              f"{t_seen - t_gone:.1f} s after the last glidein left the queues")

        # --- the web page in headless Chromium against the grid's server
        run_browser(grid, failing, ok[0])
    finally:
        if cluster:
            grid.run("submit", f"condor_rm {cluster} >/dev/null 2>&1 || true", user="alice",
                     check=False)
        grid.run("slurm", f"rm -rf {d}", check=False)
        grid.wait_for("the glideins to be gone", lambda: settled(grid), timeout=300,
                      interval=5)
        for entry, glidein in ours:
            api(grid, f"/api/v1/glideins/{entry}/{glidein}", method="DELETE", who=ADMIN)


def cm_address(grid: Any) -> str:
    env = dict(os.environ, CONTAINERS_CONF=str(Path(__file__).resolve().parents[1]
                                               / "grid" / "containers.conf"))
    out = subprocess.run(["podman", "inspect", grid.container("cm"), "--format",
                          "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"],
                         capture_output=True, text=True, env=env, check=True).stdout
    return out.split()[0]


def run_browser(grid: Any, failing: str, good: dict[str, Any]) -> None:
    """Log in, search the word, open the failing glidein and a succeeding one."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium absent (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    # The browser runs on this machine: the grid's DNS name is mapped to cm's address,
    # so the page is asked for by the name in the server's certificate.
    flags = [*FLAGS, f"--host-resolver-rules=MAP cm.dns.podman {cm_address(grid)}"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            # the role's certificate is self-signed (its own CA), not in Chromium's store
            context = browser.new_context(ignore_https_errors=True,
                                          viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            browser_login(page, SERVER, *VIEWER)
            assert page.locator("#glideins tbody tr").count() >= 2
            page.fill("#q", WORD)
            page.click("#search")
            page.wait_for_selector("#hits")
            rows = page.locator("#glideins tbody tr")
            assert failing in rows.first.inner_text()
            assert "vo/check_scratch.sh" in rows.first.inner_text()
            assert WORD in page.locator("#hits").inner_text()
            page.screenshot(path=str(ARTIFACTS / "logserver-grid-search.png"), full_page=True)
            page.click("#glideins a.glidein")
            page.wait_for_selector("#failing")
            assert page.locator("#status").inner_text() == "failed"
            assert f"{WORD} sector unreadable" in page.locator("#failing").inner_text()
            page.screenshot(path=str(ARTIFACTS / "logserver-grid-failing.png"),
                            full_page=True)
            page.goto(f"{SERVER}/glidein/{good['entry']}/{good['glidein']}")
            page.wait_for_selector("#timeline")
            assert page.locator("#status").inner_text() == "succeeded"
            assert page.locator("#timeline tbody tr").count() > 3
            page.screenshot(path=str(ARTIFACTS / "logserver-grid-succeeded.png"),
                            full_page=True)
        finally:
            browser.close()


def _dashboard_names(stem: str) -> set[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "logserver"))
    from test_logserver_dashboards import _exprs, metric_names

    path = Path(__file__).resolve().parents[2] / "docs" / "dashboards" / f"{stem}.json"
    used: set[str] = set()
    for expr in _exprs(json.loads(path.read_text())):
        used |= metric_names(expr)
    return used


def _families(text: str) -> set[str]:
    """Series names a Prometheus exposition can have: each family, and a histogram's or
    summary's _bucket/_sum/_count."""
    import re

    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        names.add(name)
        if kind in ("histogram", "summary"):
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def test_deployed_metrics_match_the_dashboards(e2e_grid: Any) -> None:
    """The deployed factory serves Prometheus metrics on its role's port (9110) and the
    log server on /metrics (login); every name the dashboards query is exported there."""
    grid = e2e_grid
    factory = grid.out("ce", "curl -sS --fail http://slurm.dns.podman:9110/metrics")
    assert "# TYPE gwms_factory_" in factory
    missing = _dashboard_names("gwms-factory") - _families(factory)
    assert missing == set(), f"factory dashboard names the factory does not export: {missing}"
    logs = grid.out("slurm", f"curl -sS --fail --cacert {CLIENT_DIR}/ca.pem -K - "
                             f"{SERVER}/metrics",
                    stdin=f'user = "{VIEWER[0]}:{VIEWER[1]}"\n')
    missing = _dashboard_names("gwms-logserver") - _families(logs)
    assert missing == set(), f"log server dashboard names not exported: {missing}"
    # without a login, no metrics (the role's default: public_metrics false)
    status = grid.out("slurm", "curl -s -o /dev/null -w '%{http_code}' "
                               f"--cacert {CLIENT_DIR}/ca.pem {SERVER}/metrics")
    assert status == "401"
