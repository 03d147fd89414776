"""The deployed factory survives ``kill -9`` at random moments (issue 5, on the grid).

The factory of the ``gwms_factory`` role (host slurm, systemd unit ``gwms-factory``,
``Restart=on-failure`` after 10 s, cycle 10 s) serves a request of this test's client at
``SLURM_e2e`` (limits: 8 glideins, 4 idle) that swings between 10 idle glideins (the
entry's ``max_idle`` cuts it to 4) and 1, always at most 6 (``ReqMaxGlideins``), removal
level ``IDLE``: so every restart finds glideins to submit or to remove. Each round:

* the request flips (high/low) and the factory is started (by the test, or by systemd's
  ``Restart=on-failure`` in every fourth round);
* the factory's main process gets ``SIGKILL``: in rounds of the high request, at once or
  up to 0.05 s after its state file lists a pending submission (written just before the schedd's
  ``submit`` call, cleared by the end-of-cycle save: so the kill lands before, during or
  after the submission), or after 6 to 12 s when none shows up; in rounds of the low
  request (removals) after a random 0.5 to 7 s (the process needs about 2 s to start,
  then its first cycle reads the queue and the requests, removes and submits);
* in about a third of the rounds the dead factory's state file is truncated at a random
  length or overwritten with garbage;
* the factory queue is sampled: this client's live glideins never exceed 6, the entry's
  waiting ones never exceed 4 nor its total 8, and every grid job in the factory schedd
  carries the factory's tags.

At the end the factory runs undisturbed for a few cycles: the state file is valid again
with nothing pending, the request is met (1 waiting glidein at most, at most 6 in total),
every Slurm job of the factory's user belongs to a glidein in the factory queue, and
``gwms factory status`` agrees with the queue. The frontend stopped by the fixture is
restarted and this client's glideins are removed and waited for (see
test_factory_grid_acceptance.py). ``GWMS_FACTORY_CRASH_ROUNDS`` (default 14) and
``GWMS_FACTORY_CRASH_SEED`` (default 5) tune it; run with ``-s`` for the figures.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from typing import Any

import pytest
from e2e_helpers import E2EGrid
from test_factory_grid_acceptance import (  # noqa: F401  (frontend_stopped: fixture)
    CLIENT,
    FACTORY,
    PY,
    SLURM,
    Wms,
    frontend_stopped,
    glideins,
    log,
    request,
    slurm_id,
)

pytestmark = [pytest.mark.grid, pytest.mark.slow]

STATE = "/var/lib/gwms-factory/factory-state.json"
CONFIG = "/var/lib/gwms-factory/factory.yaml"
HIGH_IDLE, LOW_IDLE, MAX_GLIDEINS = 10, 1, 6
TAGS = ("GlideinFactory", "GlideinName", "GlideinEntryName", "GlideinClient",
        "GlideinFrontendName", "GwmsRequestName", "GwmsSubmissionId")

# The state file as the factory's own loader sees it: "ok" or why it would be rebuilt,
# and how many submissions are pending.
STATE_CHECK = f"""
from pathlib import Path
from gwms_core.factory import state as ST
s = ST.load(Path("{STATE}"))
print(s.rebuilt or "ok", len(s.pending))
"""


# Runs on slurm as root: SIGKILL the factory (PID {pid}) {extra} s after its state file
# lists a pending submission (written just before the schedd's submit call, cleared by the
# end-of-cycle save), or at {limit} s if none shows up. Prints which.
KILL_AT_SUBMISSION = """
end=$((SECONDS + {limit}))
while ((SECONDS < end)); do
  s=""
  read -r -d '' s < {state} 2>/dev/null || true
  if [[ $s == *'"pending": {{"'* ]]; then
    sleep {extra}; kill -9 {pid}; echo pending; exit 0
  fi
  sleep 0.01
done
kill -9 {pid}; echo limit
"""


def grid_jobs(grid: E2EGrid) -> list[dict[str, Any]]:
    """Every live grid-universe job in the factory schedd (any owner, any client)."""
    raw = grid.out("slurm", (
        "condor_q -allusers -json -attributes ClusterId,ProcId,JobStatus,GridJobId,"
        + ",".join(TAGS) + " -const 'JobUniverse == 9 && JobStatus != 3 && JobStatus != 4'"))
    return list(json.loads(raw)) if raw else []


def check_queue(jobs: list[dict[str, Any]], where: str) -> tuple[int, int]:
    """Assert the invariants on one sample; return (this client's live, entry waiting)."""
    untagged = [j for j in jobs if any(not j.get(t) for t in TAGS)]
    assert not untagged, f"{where}: grid jobs without the factory's tags: {untagged}"
    ours = [j for j in jobs if j["GlideinFactory"] == FACTORY]
    assert len(ours) == len(jobs), f"{where}: grid jobs of another factory: {jobs}"
    entry = [j for j in ours if j["GlideinEntryName"] == SLURM.entry]
    mine = [j for j in entry if j["GlideinClient"] == CLIENT]
    waiting = sum(1 for j in entry if j["JobStatus"] == 1)
    assert len(mine) <= MAX_GLIDEINS, f"{where}: {len(mine)} glideins > ReqMaxGlideins: {mine}"
    assert waiting <= SLURM.max_idle, f"{where}: {waiting} waiting > max_idle: {entry}"
    assert len(entry) <= SLURM.max_glideins, f"{where}: {len(entry)} > max_glideins: {entry}"
    return len(mine), waiting


def unit(grid: E2EGrid) -> tuple[str, int]:
    """(ActiveState, MainPID) of the factory's unit."""
    out = grid.out("slurm", "systemctl show -p ActiveState -p MainPID gwms-factory")
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return props.get("ActiveState", ""), int(props.get("MainPID", "0") or 0)


def damage(grid: E2EGrid, rng: random.Random) -> str:
    """Truncate the state file at a random length or overwrite it with garbage."""
    size = int(grid.out("slurm", f"stat -c %s {STATE} 2>/dev/null || echo 0"))
    if rng.random() < 0.5:
        cut = rng.randrange(size + 1)
        grid.run("slurm", f"truncate -s {cut} {STATE}")
        return f"truncated {size}->{cut} B"
    grid.run("slurm", f"head -c {rng.randrange(1, 200)} /dev/urandom > {STATE}")
    return "garbage"


def test_kill9_at_random_moments_leaves_no_untracked_or_extra_glidein(
        e2e_grid: E2EGrid,
        frontend_stopped: tuple[Wms, dict[str, dict[str, str]]],  # noqa: F811
) -> None:
    grid = e2e_grid
    wms, params = frontend_stopped
    rounds = int(os.environ.get("GWMS_FACTORY_CRASH_ROUNDS", "14"))
    rng = random.Random(int(os.environ.get("GWMS_FACTORY_CRASH_SEED", "5")))
    assert unit(grid)[0] == "active", "the deployed factory is not running"
    # The limits are per entry: other clients' glideins (earlier tests) would share them.
    grid.wait_for("no glidein of any client at the entry",
                  lambda: not glideins(grid, SLURM.entry, None), timeout=180)
    since = grid.out("slurm", "date '+%Y-%m-%d %H:%M:%S'")
    t0 = time.monotonic()
    seen: list[tuple[int, int]] = []
    events: Counter[str] = Counter()
    try:
        for i in range(rounds):
            idle = HIGH_IDLE if i % 2 == 0 else LOW_IDLE
            wms.advertise([request(SLURM, idle, MAX_GLIDEINS, "IDLE", params)])
            if i % 4 == 3:  # systemd restarts it (Restart=on-failure, RestartSec=10)
                grid.wait_for("systemd to restart the killed factory",
                              lambda: unit(grid)[0] == "active", timeout=60, interval=1)
                events["restarted by systemd"] += 1
            else:  # reset-failed: systemd refuses a 6th start within 10 s (StartLimitBurst)
                grid.run("slurm", "systemctl reset-failed gwms-factory; "
                                  "systemctl start gwms-factory")
                events["restarted by the test"] += 1
            state, pid = unit(grid)
            assert state == "active" and pid > 0, (state, pid)
            if idle == HIGH_IDLE:  # at (just before, during, after) a submission
                extra = rng.choice((0.0, rng.uniform(0.0, 0.05)))
                how = grid.out("slurm", KILL_AT_SUBMISSION.format(
                    pid=pid, state=STATE, extra=f"{extra:.3f}",
                    limit=rng.randint(6, 12)))
                when = (f"{extra:.2f} s after a submission was pending" if how == "pending"
                        else "at the time limit, no submission seen")
                events[f"killed {'at a submission' if how == 'pending' else 'later'}"] += 1
            else:
                delay = rng.uniform(0.5, 7.0)
                time.sleep(delay)
                grid.run("slurm", f"kill -9 {pid}")
                when = f"{delay:.1f} s after start"
                events["killed after a random delay"] += 1
            grid.wait_for("the killed factory gone",
                          lambda pid=pid: grid.run("slurm", f"kill -0 {pid}",
                                                   check=False).returncode != 0,
                          timeout=20, interval=0.2)
            what = ""
            if rng.random() < 0.35:
                what = damage(grid, rng)
                events["state file " + what.split()[0]] += 1
            sample = check_queue(grid_jobs(grid), f"round {i}")
            seen.append(sample)
            log(f"round {i}: request idle={idle}, killed {when}; "
                f"client live={sample[0]} entry waiting={sample[1]} {what}")
        # undisturbed: the factory settles the request and rewrites its state file
        grid.run("slurm", "systemctl reset-failed gwms-factory; systemctl start gwms-factory")
        wms.advertise([request(SLURM, LOW_IDLE, MAX_GLIDEINS, "IDLE", params)])

        def settled() -> bool:
            _, waiting = check_queue(grid_jobs(grid), "settling")
            return waiting <= LOW_IDLE and grid.out(
                "slurm", f"{PY} -c '{STATE_CHECK}'", user="gwmsfact") == "ok 0"

        dt = grid.wait_for("the request met and the state file valid", settled, timeout=60,
                           interval=2)
        log(f"settled {dt:.0f} s after the last restart")

        # every Slurm job of the factory belongs to a glidein in its queue (removed ones
        # stay in the queue until blahp has cancelled them)
        def slurm_tracked() -> bool:
            known = {slurm_id(g) for g in grid.out("slurm", (
                "condor_q -allusers -af GridJobId -const 'JobUniverse == 9 && "
                "GridJobId =!= undefined'")).splitlines() if g.strip()}
            site = set(grid.out("slurm", "squeue -h -u gwmsfact -o %i").split())
            return site <= known
        grid.wait_for("every Slurm job tracked by a factory glidein", slurm_tracked,
                      timeout=60, interval=2)
        status = json.loads(grid.out(
            "slurm", f"{PY} -m gwms_core.cli factory status --json --config {CONFIG}",
            user="gwmsfact"))
        assert status["state"] == "ok" and status["pending_submissions"] == 0, status
        assert unit(grid)[0] == "active"
    finally:
        grid.run("slurm", "systemctl reset-failed gwms-factory; systemctl start gwms-factory",
                 check=False)
    journal = grid.out("slurm", f"journalctl -u gwms-factory --no-pager --since '{since}' "
                                "-o cat")
    for key, needle in (("rebuilt state files", "rebuilt from the queue"),
                        ("pending batches found in the queue", "reached the queue"),
                        ("pending batches not in the queue", "never reached the queue"),
                        ("temporaries removed", "temporary state file")):
        events[key] = journal.count(needle)
    log(f"{rounds} rounds in {time.monotonic() - t0:.0f} s; samples (client live, entry "
        f"waiting): {seen}; {dict(events)}")
    # the kills left the queue at different points of the submit/remove work, and some
    # landed while a submission was pending
    assert len({s[0] for s in seen}) > 1, seen
    assert events["killed at a submission"] >= 1, dict(events)
