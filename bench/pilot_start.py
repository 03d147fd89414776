"""Pilot start: from the pilot process starting to its startd's ad in the collector.

Usage (as root, after ``tests/glidein/setup-condor-root.sh``)::

    /work/venv/bin/python bench/pilot_start.py [--runs N]

Starts a real HTCondor 23.9 pool (collector, negotiator, schedd) in the Debian 13 root
(tests/glidein/glidein_pool.py), stages the glidein over a real ``http.server`` on
127.0.0.1, then alternates, N times each:

* floor: ``condor_master`` started by hand with a startd-only configuration (same pool,
  same IDTOKEN, same slot size) to its slot ad in the collector;
* pilot: ``glidein_startup.sh`` (download + verification of every staged file, the
  built-in setup scripts, configuration, ``condor_master``) to its slot ad.

Prints each run, the medians, the pilot's phases (from its JSON log) and the difference
to the floor (bar: within 2 s). Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR / "tests" / "glidein"))

import glidein_pool as gp  # noqa: E402
from floor_condor import floor_config  # noqa: E402

from gwms_core import staging  # noqa: E402


def as_glide(root: Path, *args: str, env: dict[str, str]) -> list[str]:
    return ["chroot", f"--userspec={gp.GLIDE_UID}:{gp.GLIDE_UID}", str(root), "env", "-i",
            *(f"{k}={v}" for k, v in env.items()), *args]


def wait_ad(pool: gp.Pool, constraint: str, t0: float, timeout: float = 60) -> float:
    """Seconds from t0 until a slot ad matching constraint is in the collector."""
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        out = pool.condor("condor_status", "-constraint", constraint, "-af", "Name")
        if out.stdout.strip():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise RuntimeError(f"no ad for {constraint} within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def floor_run(pool: gp.Pool, base: Path, token: Path, n: int) -> float:
    local = base / f"floor-{n}"
    for sub in ("log", "spool", "execute", "lock", "run", "tokens.d", "passwords.d"):
        (local / sub).mkdir(parents=True)
    shutil.copy(token, local / "tokens.d" / "glidein")
    name = f"floor_{os.getpid()}_{n}"
    (local / "condor_config").write_text(floor_config(pool.inside(local), pool.collector, name))
    subprocess.run(["chown", "-R", f"{gp.GLIDE_UID}:{gp.GLIDE_UID}", str(local)], check=True)
    os.chmod(local / "tokens.d" / "glidein", 0o600)
    env = {"PATH": gp.PATH, "CONDOR_CONFIG": pool.inside(local / "condor_config")}
    t0 = time.monotonic()
    proc = subprocess.Popen(as_glide(pool.root, "condor_master", "-f", env=env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return wait_ad(pool, f'BENCH_NAME == "{name}" && PartitionableSlot =?= true', t0)
    finally:
        stop(proc)


def pilot_run(pool: gp.Pool, base: Path, token: Path, url: str, manifest: staging.Manifest,
              stage: Path, n: int, extra_env: dict[str, str] | None = None,
              ) -> tuple[float, dict[str, float]]:
    parent = base / f"pilot-{n}"
    parent.mkdir()
    os.chown(parent, gp.GLIDE_UID, gp.GLIDE_UID)
    entry = f"bench_{os.getpid()}_{n}"
    env = {"PATH": gp.PATH, "HOME": "/home/gwmsglide", "TMPDIR": pool.inside(parent),
           **(extra_env or {})}
    cmd = as_glide(pool.root, pool.inside(stage / "glidein_startup.sh"),
                   "--manifest-url", f"{url}/{staging.MANIFEST_NAME}",
                   "--manifest-sha256", manifest.digest, "--collector", pool.collector,
                   "--token-file", pool.inside(token), "--entry", entry, "--walltime", "3600",
                   "--keep-work-dir", env=env)
    wall0 = time.time()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        elapsed = wait_ad(pool, f'GLIDEIN_Entry_Name == "{entry}" && PartitionableSlot =?= true',
                          t0)
    finally:
        stop(proc)
    phases: dict[str, float] = {}
    (work,) = parent.glob("glidein.*")
    for line in (work / "log" / "glidein.jsonl").read_text().splitlines():
        rec = json.loads(line)
        when = datetime.fromisoformat(rec["time"].replace("Z", "+00:00")).timestamp() - wall0
        msg = rec["message"]
        for key, prefix in (("staged", "staging verified"), ("validated", "6 setup script"),
                            ("master", "condor_master started")):
            if msg.startswith(prefix) and key not in phases:
                phases[key] = when
    return elapsed, phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pilot-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment of the pilot (repeatable), e.g. GWMS_STAGE_BATCH=0 "
                        "for one download per staged file")
    args = parser.parse_args()
    try:
        pool = gp.start()
    except gp.Unavailable as exc:
        print(f"cannot run: {exc}")
        return 2
    base = pool.root / "var" / "tmp" / f"gwms-bench-pilot-{os.getpid()}"
    http = None
    try:
        base.mkdir(parents=True)
        token = base / "glidein.token"
        token.write_text(pool.token() + "\n")
        os.chown(token, gp.GLIDE_UID, gp.GLIDE_UID)
        token.chmod(0o600)
        stage = base / "stage"
        manifest = staging.build_staging(staging.glidein_files(params={
            "GLIDEIN_MIN_DISK_MB": 1, "GLIDEIN_CPUS": 1, "GLIDEIN_MEMORY": 512}), stage)
        port = gp.free_port()
        http = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                                 "127.0.0.1", "--directory", str(stage)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        url = f"http://127.0.0.1:{port}"
        floors, pilots = [], []
        print(f"pool {pool.collector}; staging: {len(manifest.entries)} files; "
              f"{args.runs} runs each, alternating")
        for n in range(args.runs):
            f = floor_run(pool, base, token, n)
            p, phases = pilot_run(pool, base, token, url, manifest, stage, n,
                                  dict(kv.split("=", 1) for kv in args.pilot_env))
            floors.append(f)
            pilots.append(p)
            print(f"run {n}: floor {f:.2f} s  pilot {p:.2f} s  (pilot phases: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()) + ")")
        fm, pm = statistics.median(floors), statistics.median(pilots)
        print(f"median floor (bare condor_master, startd-only) : {fm:.2f} s")
        print(f"median pilot (glidein_startup.sh)             : {pm:.2f} s")
        print(f"pilot - floor: {pm - fm:+.2f} s (bar: within 2 s of the floor)")
    finally:
        if http is not None:
            http.terminate()
            http.wait()
        pool.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
