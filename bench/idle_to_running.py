"""Idle job to running job: from ``condor_submit`` to the job running on a new glidein.

Usage (as root, on a grid deployed by ``GWMS_E2E_PREFIX=<p> tests/e2e/run.sh --jobs 0``)::

    GWMS_E2E_PREFIX=gwms-hb- /work/venv/bin/python bench/idle_to_running.py [--runs N]

Measures, on the deployed end-to-end system, in the same run:

* the floor's parts, N times each:

  - Slurm: ``sbatch`` on the slurm host to the job RUNNING in ``squeue``;
  - pilot floor: ``condor_master`` with a startd-only configuration (the glidein's
    security settings, an IDTOKEN for ``glidein@<trust domain>``) started by hand on the
    slurm host, to its slot ad in cm's collector;
  - negotiation: a job already idle on the submit schedd that only that startd can take,
    from the startd's ad in the collector to the job running (one negotiation cycle at
    the pool's configured negotiator settings, plus the claim and activation);

* the figure, N times: one job that no running slot can take (``requirements`` name the
  Slurm entry) submitted as ``alice`` on the submit host, to that job running on a
  glidein the frontend requested and the factory submitted to Slurm. Before each run
  every glidein is gone (the job of the previous run and every glidein are removed, and
  the bench waits until the pool, the factory queue, Slurm and the CE are empty).

Every time is taken inside the containers with ``time.time()`` (they share the host's
clock), by pollers on cm (request ads, startd ads), slurm (factory queue, GridJobId,
squeue) and submit (the job) that query every 0.1 s, so each stamp is late by at most
one poll. Prints each run's timeline, the median of each segment, the floor, and the
ratio of the median figure to the floor (bar: 1.5). Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR / "tests" / "e2e"))

from e2e_helpers import CONTAINERS_CONF, E2EGrid  # noqa: E402
from floor_condor import floor_config  # noqa: E402

ENTRY = "SLURM_e2e"
USER = "alice"
#: Account that runs the floor's condor_master on the slurm host (exists there).
FLOOR_USER = "gwmsfact"
POLL = 0.1

# A poller runs inside a container with the system python3 (htcondor2 from Debian):
# it prints "ready", then one JSON object {event: time.time() when first seen} when every
# event was seen or the deadline passed.
POLLER_COMMON = """
import json, subprocess, sys, time
import htcondor2 as h
deadline = time.time() + float(sys.argv[1])
seen = {}
def out(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
def loop(probes):
    print("ready", flush=True)
    while time.time() < deadline and any(n not in seen for n, _ in probes):
        for name, probe in probes:
            if name in seen:
                continue
            try:
                hit = probe()
            except Exception:
                hit = None
            if hit:
                seen[name] = time.time()
                if isinstance(hit, dict):
                    seen.update(hit)
        time.sleep(POLL_S)
    print(json.dumps(seen), flush=True)
""".replace("POLL_S", str(POLL))

POLLER_CM = POLLER_COMMON + """
entry = sys.argv[2]
skip = set(json.loads(sys.argv[3])["startds"])
coll = h.Collector()
def request():
    ads = coll.query(h.AdType.Any, constraint='MyType == "glideclient" && ReqIdleGlideins > 0'
                     ' && regexp("^%s@", ReqName)' % entry, projection=["GwmsCycleStarted"])
    if ads:
        return {"frontend_cycle": float(ads[0].get("GwmsCycleStarted", 0))}
    return None
def startd():
    ads = coll.query(h.AdType.Startd, constraint='GLIDEIN_Entry_Name == "%s"' % entry,
                     projection=["Name"])
    return [a for a in ads if a["Name"].split("@", 1)[-1] not in skip]
loop([("request", request), ("startd", startd)])
"""

POLLER_SLURM = POLLER_COMMON + """
entry = sys.argv[2]
skip = json.loads(sys.argv[3])
schedd = h.Schedd()
base = 'JobUniverse == 9 && GlideinEntryName == "%s"' % entry
base += "".join(" && ClusterId != %s" % int(c) for c in skip["clusters"])
def queued():
    return schedd.query(base, projection=["ClusterId"])
def grid_id():
    return schedd.query(base + ' && GridJobId =!= undefined && '
                        'size(split(GridJobId, " ")) > 2', projection=["GridJobId"])
def ids(cmd):
    return [i for i in out(cmd).split() if i not in skip["slurm"]]
def squeue():
    return ids("squeue -h -o %i")
def running():
    return ids("squeue -h -t R -o %i")
loop([("factory_queue", queued), ("grid_job_id", grid_id), ("squeue", squeue),
      ("slurm_running", running)])
"""

POLLER_SUBMIT = POLLER_COMMON + """
sub = sys.argv[2]
schedd = h.Schedd()
t = time.time()
cluster = int(out("condor_submit -terse " + sub).split(".")[0])
seen["submitted"] = t
seen["submit_returned"] = time.time()
def running():
    return schedd.query("ClusterId == %d && JobStatus == 2" % cluster,
                        projection=["ClusterId"])
loop([("job_running", running)])
seen["cluster"] = cluster
print(json.dumps(seen), flush=True)
"""

FIGURE_SUB = f"""\
universe = vanilla
executable = /bin/sleep
arguments = 600
request_cpus = 1
request_memory = 64
request_disk = 1024
requirements = TARGET.GLIDEIN_Entry_Name =?= "{ENTRY}"
+GwmsBench = "idle_to_running"
log = /tmp/bench-i2r.log
queue
"""

# Starts the floor's condor_master (-f, as FLOOR_USER through setpriv, which execs),
# prints time.time() at its start and when its slot ad is in cm's collector (polled as
# root with the host's token), then stops the master when stdin closes.
FLOOR_START = """
import pwd, subprocess, sys, time
import htcondor2 as h
conf, name, user = sys.argv[1], sys.argv[2], sys.argv[3]
pw = pwd.getpwnam(user)
coll = h.Collector("cm.dns.podman")
t0 = time.time()
p = subprocess.Popen(["setpriv", "--reuid", str(pw.pw_uid), "--regid", str(pw.pw_gid),
                      "--init-groups", "env", "CONDOR_CONFIG=" + conf, "condor_master", "-f"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t_ad = -1.0
while time.time() < t0 + 120:
    try:
        if coll.query(h.AdType.Startd, constraint='BENCH_NAME == "%s"' % name,
                      projection=["Name"]):
            t_ad = time.time()
            break
    except Exception:
        pass
    time.sleep(0.05)
print(t0, t_ad, flush=True)
sys.stdin.read()
p.terminate()
p.wait(timeout=60)
"""

SBATCH = """
import subprocess, sys, time
t0 = time.time()
jid = subprocess.run(["runuser", "-u", sys.argv[1], "--", "sbatch", "--parsable",
                      "-o", "/dev/null", "-D", "/tmp", "--wrap", "sleep 1"],
                     capture_output=True, text=True, check=True).stdout.strip().split(";")[0]
while time.time() < t0 + 120:
    st = subprocess.run(["squeue", "-h", "-j", jid, "-o", "%T"], capture_output=True,
                        text=True).stdout.strip()
    if st in ("RUNNING", "COMPLETING", "COMPLETED", ""):
        print(time.time() - t0)
        break
    time.sleep(0.02)
"""


class Bench:
    def __init__(self, grid: E2EGrid, runs: int, timeout: float) -> None:
        self.grid = grid
        self.runs = runs
        self.timeout = timeout
        #: The warm glidein: {"startds": [...], "clusters": [...], "slurm": [...]}; empty
        #: in the cold case.
        self.warm: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ helpers

    def popen(self, host: str, script: str, *args: str) -> subprocess.Popen[str]:
        cmd = ["podman", "exec", "-i", self.grid.container(host), "python3", "-c", script,
               *args]
        env = dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF))
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    @staticmethod
    def ready(proc: subprocess.Popen[str], host: str) -> None:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"poller on {host} failed: {line} {proc.stderr.read()[-800:]}"
                               if proc.stderr else line)

    @staticmethod
    def result(proc: subprocess.Popen[str]) -> dict[str, float]:
        out, err = proc.communicate(timeout=600)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if not lines:
            raise RuntimeError(f"poller gave no result: {err[-800:]}")
        data: dict[str, float] = json.loads(lines[-1])
        return data

    def _lines(self, host: str, cmd: str) -> list[str]:
        return [x for x in self.grid.out(host, cmd).split() if x]

    def glideins(self) -> dict[str, list[str]]:
        """Glideins anywhere: startd names in the pool, factory clusters, Slurm ids, CE jobs."""
        names = self._lines("cm", "condor_status -const '!isUndefined(GLIDEIN_Entry_Name)' "
                                  "-af Name")
        return {
            "startds": sorted({n.split("@", 1)[-1] for n in names}),
            "clusters": self._lines("slurm", "condor_q -allusers -const 'JobUniverse == 9' "
                                             "-af ClusterId"),
            "slurm": self._lines("slurm", "squeue -h -o %i"),
            "ce": self._lines("ce", "condor_q -allusers -af ClusterId"),
        }

    def counts(self) -> dict[str, int]:
        """Glideins left anywhere, the warm glidein (if any) not counted."""
        return {k: len([x for x in v if x not in self.warm.get(k, [])])
                for k, v in self.glideins().items()}

    def requests_idle(self) -> int:
        out = self.grid.out("cm", "condor_status -any -const 'MyType == \"glideclient\"' "
                                  "-af ReqIdleGlideins")
        return sum(int(x) for x in out.split() if x.isdigit())

    def gridmanagers(self) -> int:
        """condor_gridmanager processes on the factory host (one per user with grid jobs)."""
        return len(self._lines("slurm", "pgrep -x condor_gridmana || true"))

    def clean(self) -> None:
        """Remove bench jobs and every glidein but the warm one; wait until nothing is left.

        In the cold case also wait until the factory schedd's gridmanager has exited
        (it does when its last job is gone), so the next run starts one.
        """
        g = self.grid
        g.run("submit", "condor_rm -const 'GwmsBench =!= undefined' >/dev/null 2>&1 || true",
              user=USER, check=False)
        t0 = time.monotonic()
        while self.requests_idle() > 0 and time.monotonic() - t0 < 120:
            time.sleep(1)
        keep_c = "".join(f" && ClusterId != {c}" for c in self.warm.get("clusters", []))
        keep_s = " ".join(self.warm.get("slurm", []))
        while time.monotonic() - t0 < 600:
            c = self.counts()
            if not any(c.values()):
                if self.warm or self.gridmanagers() == 0:
                    return
            else:
                g.run("slurm", f"condor_rm -const 'JobUniverse == 9 && JobStatus != 3{keep_c}'"
                               " >/dev/null 2>&1; for j in $(squeue -h -u gwmsfact -o %i); do "
                               f"case ' {keep_s} ' in *\" $j \"*) ;; *) scancel $j;; esac; "
                               "done; true", check=False)
            time.sleep(3)
        raise RuntimeError(f"glideins still there after 600 s: {self.counts()}")

    def make_warm(self) -> None:
        """The warm case: one glidein of the factory already busy at the Slurm site.

        A job for the Slurm entry (``+GwmsBenchWarm``, sleep 3600) is submitted and the
        loop provisions its glidein the ordinary way; once the job runs and nothing else
        is pending, that glidein (its startd, factory cluster and Slurm job) is left alone
        by the cleanup and ignored by the pollers. Its factory job keeps the factory
        user's gridmanager (and its blahp) running, as other glideins in the queue do in
        a production factory. The glidein's slot is full, so the figure's job needs a new
        glidein.
        """
        g = self.grid
        self.warm = {}
        g.run("submit", "condor_rm -const 'GwmsBenchWarm =!= undefined' >/dev/null 2>&1; true",
              user=USER, check=False)
        self.clean()
        sub = FIGURE_SUB.replace("arguments = 600", "arguments = 3600").replace(
            '+GwmsBench = "idle_to_running"', "+GwmsBenchWarm = true")
        g.run("submit", "cat > /tmp/bench-warm.sub", user=USER, stdin=sub)
        g.run("submit", "condor_submit /tmp/bench-warm.sub >/dev/null", user=USER)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 300:
            running = g.out("submit", "condor_q -const 'GwmsBenchWarm =?= true && "
                                      "JobStatus == 2' -af ClusterId", user=USER)
            if running and self.requests_idle() == 0:
                gl = self.glideins()
                if (len(gl["startds"]) == len(gl["clusters"]) == len(gl["slurm"]) == 1
                        and not gl["ce"]):
                    self.warm = {k: v for k, v in gl.items() if k != "ce"}
                    print(f"warm glidein: {self.warm}")
                    return
            time.sleep(2)
        raise RuntimeError(f"warm glidein not settled within 300 s: {self.glideins()}")

    def drop_warm(self) -> None:
        self.grid.run("submit", "condor_rm -const 'GwmsBenchWarm =!= undefined' "
                                ">/dev/null 2>&1; true", user=USER, check=False)
        self.warm = {}

    def warm_alive(self) -> bool:
        gl = self.glideins()
        return all(set(v) <= set(gl[k]) for k, v in self.warm.items())

    # ------------------------------------------------------------------ floor

    def slurm_floor(self) -> list[float]:
        out = []
        for _ in range(self.runs):
            proc = self.popen("slurm", SBATCH, FLOOR_USER)
            text, err = proc.communicate(timeout=180)
            if proc.returncode != 0 or not text.strip():
                raise RuntimeError(f"sbatch floor failed: {err[-800:]}")
            out.append(float(text.split()[-1]))
            time.sleep(1.5)
        return out

    def token(self) -> str:
        domain = self.grid.out("cm", "condor_config_val TRUST_DOMAIN")
        return self.grid.out("cm", f"condor_token_create -identity glidein@{domain}")

    def pilot_and_negotiation_floor(self) -> list[tuple[float, float]]:
        """(master start -> slot ad, slot ad -> job running) per run."""
        g = self.grid
        tok = self.token()
        out = []
        for n in range(self.runs):
            name = f"bench_floor_{os.getpid()}_{n}"
            local = f"/tmp/{name}"
            g.run("slurm", f"set -e; mkdir -p {local}; cd {local}; "
                           "mkdir -p log spool execute lock run tokens.d passwords.d; "
                           "cat > tokens.d/glidein; chmod 600 tokens.d/glidein",
                  stdin=tok + "\n")
            g.run("slurm", f"cat > {local}/condor_config; chown -R {FLOOR_USER} {local}",
                  stdin=floor_config(local, "cm.dns.podman", name))
            sub = FIGURE_SUB.replace(f'TARGET.GLIDEIN_Entry_Name =?= "{ENTRY}"',
                                     f'TARGET.BENCH_NAME =?= "{name}"')
            g.run("submit", "cat > /tmp/bench-floor.sub", user=USER, stdin=sub)
            cl = g.out("submit", "condor_submit -terse /tmp/bench-floor.sub | cut -d. -f1",
                       user=USER)
            time.sleep(2)  # the submit's own reschedule is over; nothing else triggers one
            sub_poll = self.popen("submit", POLLER_COMMON + f"""
schedd = h.Schedd()
def running():
    return schedd.query("ClusterId == {cl} && JobStatus == 2", projection=["ClusterId"])
loop([("job_running", running)])
""", "180")
            self.ready(sub_poll, "submit")
            master = self.popen("slurm", FLOOR_START, f"{local}/condor_config", name,
                                FLOOR_USER)
            assert master.stdout is not None and master.stdin is not None
            t0, t_ad = (float(x) for x in master.stdout.readline().split())
            res = self.result(sub_poll)
            g.run("submit", f"condor_rm {cl} >/dev/null 2>&1 || true", user=USER, check=False)
            master.stdin.close()
            master.wait(timeout=120)
            g.run("slurm", f"rm -rf {local}", check=False)
            if t_ad < 0 or "job_running" not in res:
                print(f"floor run {n}: no ad or the job did not run ({res})")
                continue
            out.append((t_ad - t0, res["job_running"] - t_ad))
        return out

    # ------------------------------------------------------------------ figure

    def figure_run(self) -> dict[str, float]:
        g = self.grid
        g.run("submit", "cat > /tmp/bench-i2r.sub", user=USER, stdin=FIGURE_SUB)
        limit = str(self.timeout)
        skip = json.dumps({"startds": [], "clusters": [], "slurm": [], **self.warm})
        cm = self.popen("cm", POLLER_CM, limit, ENTRY, skip)
        slurm = self.popen("slurm", POLLER_SLURM, limit, ENTRY, skip)
        self.ready(cm, "cm")
        self.ready(slurm, "slurm")
        gridmanagers = self.gridmanagers()
        cmd = ["podman", "exec", "-i", "--user", USER, "--workdir", "/tmp",
               g.container("submit"), "python3", "-c", POLLER_SUBMIT, limit,
               "/tmp/bench-i2r.sub"]
        sub = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF)))
        self.ready(sub, "submit")
        ev: dict[str, float] = {}
        for p in (sub, cm, slurm):
            ev.update(self.result(p))
        ev["gridmanagers"] = gridmanagers
        return ev


SEGMENTS = (
    ("submit -> request ad (frontend)", "submitted", "request"),
    ("request ad -> factory queue", "request", "factory_queue"),
    ("factory queue -> squeue (gridmanager/blahp)", "factory_queue", "squeue"),
    ("squeue -> running (Slurm)", "squeue", "slurm_running"),
    ("running -> startd in collector (pilot)", "slurm_running", "startd"),
    ("startd -> job running (negotiation, claim)", "startd", "job_running"),
)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds to wait for one figure run")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--skip-figure", action="store_true")
    parser.add_argument("--case", choices=("cold", "warm"), default="cold",
                        help="cold: no glidein anywhere before each run, so the factory "
                        "schedd starts a gridmanager for the glidein; warm: another glidein "
                        "of the factory is busy at the Slurm site all along (its job keeps "
                        "the gridmanager and blahp running), as in a factory with work")
    args = parser.parse_args()
    grid = E2EGrid(os.environ.get("GWMS_E2E_PREFIX", "gwms-e2e-"))
    bench = Bench(grid, args.runs, args.timeout)
    try:
        grid.run("cm", "systemctl is-active -q gwms-frontend")
        grid.run("slurm", "systemctl is-active -q gwms-factory")
    except (AssertionError, subprocess.SubprocessError) as exc:
        print(f"cannot run: the deployed e2e grid {grid.prefix}* is not up: {exc}")
        return 2
    knobs = ("NEGOTIATOR_INTERVAL", "NEGOTIATOR_MIN_INTERVAL", "NEGOTIATOR_CYCLE_DELAY",
             "SCHEDD_INTERVAL")
    print(f"grid {grid.prefix}*; cm: " + ", ".join(
        f"{k}={grid.out('cm', f'condor_config_val {k} 2>/dev/null || echo unset')}"
        for k in knobs))
    print("slurm (factory schedd): " + ", ".join(
        f"{k}={grid.out('slurm', f'condor_config_val {k} 2>/dev/null || echo unset')}"
        for k in ("GRIDMANAGER_CONTACT_SCHEDD_DELAY", "GRIDMANAGER_JOB_PROBE_INTERVAL",
                  "INFN_JOB_POLL_INTERVAL", "SCHEDD_INTERVAL", "SCHEDD_MIN_INTERVAL")))
    for host, unit in (("cm", "gwms-frontend"), ("slurm", "gwms-factory")):
        cmd = grid.out(host, f"systemctl show -p ExecStart --value {unit} | tr ' ;' '\\n\\n' "
                             "| grep -A1 -- --wake-poll | tail -1 || true")
        print(f"{unit}: --wake-poll {cmd or 'default'}")
    print(f"case: {args.case}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    bench.clean()
    floor = None
    if not args.skip_floor:
        sl = bench.slurm_floor()
        pn = bench.pilot_and_negotiation_floor()
        print("slurm sbatch -> RUNNING: " + " ".join(f"{x:.2f}" for x in sl))
        print("pilot floor (master -> ad): " + " ".join(f"{a:.2f}" for a, _ in pn))
        print("negotiation (ad -> job running): " + " ".join(f"{b:.2f}" for _, b in pn))
        parts = (median(sl), median([a for a, _ in pn]), median([b for _, b in pn]))
        floor = sum(parts)
        print(f"floor = {parts[0]:.2f} + {parts[1]:.2f} + {parts[2]:.2f} = {floor:.2f} s "
              "(medians: Slurm + pilot floor + negotiation)")
    totals: list[float] = []
    seg: dict[str, list[float]] = {name: [] for name, _, _ in SEGMENTS}
    if args.case == "warm" and not args.skip_figure:
        bench.make_warm()
    for n in range(0 if args.skip_figure else args.runs):
        if bench.warm and not bench.warm_alive():
            print("the warm glidein is gone: a new one")
            bench.make_warm()
        bench.clean()
        ev = bench.figure_run()
        if "job_running" not in ev:
            print(f"run {n}: job not running within {args.timeout:.0f} s: {ev}")
            bench.clean()
            continue
        t0 = ev["submitted"]
        total = ev["job_running"] - t0
        totals.append(total)
        parts_s = []
        for name, a, b in SEGMENTS:
            if a in ev and b in ev:
                seg[name].append(ev[b] - ev[a])
                parts_s.append(f"{b} +{ev[b] - t0:.1f}")
        fc = ev.get("frontend_cycle")
        extra = f" (frontend cycle started +{fc - t0:.1f})" if fc else ""
        when = time.strftime("%H:%M:%S", time.localtime(t0)) + f"{t0 % 1:.1f}"[1:]
        print(f"run {n} (submitted {when}; gridmanagers running {ev['gridmanagers']}): "
              f"{total:.1f} s: " + ", ".join(parts_s) + extra)
    bench.drop_warm()
    bench.clean()
    print("median of each segment:")
    for name, _, _ in SEGMENTS:
        print(f"  {name:46s} {median(seg[name]):6.2f} s  "
              f"({' '.join(f'{x:.1f}' for x in seg[name])})")
    fig = median(totals)
    print(f"figure (median of {len(totals)}): {fig:.2f} s")
    if floor:
        print(f"ratio figure / floor: {fig / floor:.2f} (bar 1.5)")
    print(f"case {args.case}; load average at the end "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
