#!/usr/bin/env python3
"""Log server benchmark: authenticated uploads per second, and search latency.

1. Uploads: starts ``gwms logserver serve`` (HTTPS, self-signed certificate made with
   openssl) in its own process, then CLIENTS client processes each upload their share
   of UPLOADS glidein logs (PUT, ``Authorization: Bearer`` with a token per glidein,
   one kept-alive TLS connection per client). Every upload is verified, parsed,
   sanitised, fsync'ed to disk and indexed before the server answers. Prints
   uploads/s and MB/s.
2. Search: indexes GLIDEINS synthetic glidein logs (12 records each, 1% failing with
   a rare word in the failing script's output) into a fresh SQLite/FTS5 index with the
   server's own indexing code (files are not written unless --with-files), starts the
   server on it and times REST API queries over HTTPS (p50/p95/max over REPEAT runs).

Usage: bench/logserver.py [--uploads 3000] [--clients 4] [--glideins 100000]
                          [--index-url postgresql://...]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from gwms_core.logserver.blobs import BlobStore
from gwms_core.logserver.extract import extract
from gwms_core.logserver.index import SqliteIndex, open_index
from gwms_core.logserver.records import parse_upload
from gwms_core.logserver.sanitize import Sanitizer
from gwms_core.logserver.tokens import KeyRing, mint, new_key, write_keyring
from gwms_core.logserver.users import user_line

SCRIPTS = ["glidein_startup.sh", "validate_node.sh", "setup_x509.sh", "condor_startup.sh",
           "check_cvmfs.sh", "singularity_setup.sh"]
ENTRIES = [f"ce{i:02d}" for i in range(20)]
FRONTENDS = ["fe-cms", "fe-atlas", "fe-osg", "fe-icecube"]
USER = ("bench", "bench-password")


def vocabulary(rng: random.Random, n: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 10))) for _ in range(n)]


def glidein_log(rng: random.Random, vocab: list[str], t0: float, failing: bool,
                rare: str) -> bytes:
    """A 12-record glidein log (about 2-3 KB)."""
    def words(k: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(k))

    recs: list[dict[str, object]] = [
        {"time": t0, "script": SCRIPTS[0], "pid": 100, "severity": "info", "event": "start",
         "message": "glidein starting " + words(5),
         "attrs": {"factory": "bench-factory", "frontend": rng.choice(FRONTENDS),
                   "node": f"wn{rng.randint(1, 5000):04d}.example.org",
                   "job_id": f"{rng.randint(1, 10**6)}.0"}}]
    t = t0
    for script in SCRIPTS[1:]:
        t += rng.uniform(0.5, 5)
        recs.append({"time": t, "script": script, "pid": 200, "severity": "info",
                     "event": "script_start", "message": "start " + words(8)})
        if failing and script == "validate_node.sh":
            out = f"check failed: {rare} {words(30)}\n".encode()
            recs.append({"time": t + 0.1, "script": script, "pid": 200, "severity": "error",
                         "file": {"name": "validate_node.out", "encoding": "gzip+base64",
                                  "data": base64.b64encode(gzip.compress(out)).decode()}})
            recs.append({"time": t + 0.2, "script": script, "pid": 200, "severity": "error",
                         "event": "script_end", "exit_code": 1, "message": "failed"})
            break
        recs.append({"time": t + 0.1, "script": script, "pid": 200, "severity": "info",
                     "message": words(20)})
    recs.append({"time": t + 1, "script": SCRIPTS[0], "pid": 100, "severity": "info",
                 "event": "end", "exit_code": 1 if failing else 0, "message": "ending"})
    return ("\n".join(json.dumps(r) for r in recs) + "\n").encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def start_server(work: Path, data: Path, key_file: Path, users: Path, cert: Path,
                 key: Path, index_url: str | None = None
                 ) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = (work / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gwms_core.cli", "logserver", "serve", "--data-dir", str(data),
         "--key-file", str(key_file), "--users-file", str(users), "--cert", str(cert),
         "--cert-key", str(key), "--listen", f"127.0.0.1:{port}", "--retention-days", "0",
         "--retention-bytes", "0", "--max-upload-bytes", str(16 * 1024 * 1024),
         *(["--index", index_url] if index_url else [])],
        stdout=log, stderr=log)
    ctx = ssl.create_default_context(cafile=str(cert))
    for _ in range(200):
        try:
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("log server did not start; see " + str(work))


def _client(port: int, cafile: str, jobs: list[tuple[str, str, str, bytes]],
            start: mp.synchronize.Event, out: mp.Queue[tuple[int, int]]) -> None:  # type: ignore[name-defined]
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
    start.wait()
    ok = nbytes = 0
    for path, token, _name, body in jobs:
        conn.request("PUT", path, body=body, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        r.read()
        if r.status in (200, 201):
            ok += 1
            nbytes += len(body)
    conn.close()
    out.put((ok, nbytes))


def bench_uploads(args: argparse.Namespace, work: Path, ring: KeyRing, key_file: Path,
                  users: Path, cert: Path, key: Path) -> None:
    rng = random.Random(1)
    vocab = vocabulary(rng)
    now = time.time()
    jobs = []
    for i in range(args.uploads):
        entry = ENTRIES[i % len(ENTRIES)]
        glidein = f"up-{i:07d}"
        token = mint(ring, entry, glidein)
        body = glidein_log(rng, vocab, now - 3600 + i, i % 100 == 0, "zzrareword")
        jobs.append((f"/logs/{entry}/{glidein}/glidein.jsonl", token, glidein, body))
    data = work / "upload-data"
    proc, port = start_server(work, data, key_file, users, cert, key, args.index_url)
    try:
        for clients in sorted({1, args.clients}):
            share = [jobs[i::clients] for i in range(clients)]
            start = mp.Event()
            out: mp.Queue[tuple[int, int]] = mp.Queue()
            procs = [mp.Process(target=_client, args=(port, str(cert), s, start, out))
                     for s in share]
            for p in procs:
                p.start()
            time.sleep(1.0)  # let clients connect
            t0 = time.perf_counter()
            start.set()
            results = [out.get() for _ in procs]
            dt = time.perf_counter() - t0
            for p in procs:
                p.join()
            ok = sum(r[0] for r in results)
            nbytes = sum(r[1] for r in results)
            print(f"uploads: {clients} client(s), {ok}/{len(jobs)} stored in {dt:.2f} s: "
                  f"{ok / dt:.0f} uploads/s, {nbytes / dt / 1e6:.2f} MB/s "
                  f"(mean body {nbytes / max(ok, 1) / 1024:.1f} KiB; HTTPS keep-alive, "
                  "token verify, parse, sanitise, fsync+rename, "
                  f"{'PostgreSQL' if args.index_url else 'SQLite FTS5'} index)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def populate(args: argparse.Namespace, data: Path) -> float:
    rng = random.Random(2)
    vocab = vocabulary(rng)
    index = (open_index(args.index_url) if args.index_url
             else SqliteIndex(data / "index.sqlite"))
    blobs = BlobStore(data / "logs") if args.with_files else None
    sanitizer = Sanitizer()
    now = time.time()
    t0 = time.perf_counter()
    for i in range(args.glideins):
        entry = ENTRIES[i % len(ENTRIES)]
        glidein = f"g-{i:07d}"
        # 1% fail; failing glidein k prints rareword<k mod 100>: each word on N/10^4 glideins
        body = glidein_log(rng, vocab, now - args.glideins + i, i % 100 == 7,
                           f"rareword{(i // 100) % 100:03d}")
        parsed = parse_upload(body, sanitizer)
        if blobs is not None:
            blobs.write(entry, glidein, "glidein.jsonl", parsed.stored)
        index.put_file(extract(entry, glidein, parsed.records), "glidein.jsonl",
                       parsed.records, len(parsed.stored), append=False, now=now)
        if (i + 1) % 20000 == 0:
            print(f"  indexed {i + 1} glideins ({(i + 1) / (time.perf_counter() - t0):.0f}/s)",
                  flush=True)
    dt = time.perf_counter() - t0
    index.close()
    return dt


def bench_search(args: argparse.Namespace, work: Path, key_file: Path, users: Path,
                 cert: Path, key: Path) -> None:
    data = work / "search-data"
    data.mkdir()
    dt = populate(args, data)
    size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    where = args.index_url.split("?")[0] if args.index_url else "SQLite"
    print(f"search: indexed {args.glideins} glidein logs ({args.glideins * 12} records) into "
          f"{where} in {dt:.1f} s ({args.glideins / dt:.0f}/s in-process); data dir "
          f"{size / 1e6:.0f} MB{'' if args.with_files else ' (index only)'}")
    proc, port = start_server(work, data, key_file, users, cert, key, args.index_url)
    ctx = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=120)
    auth = "Basic " + base64.b64encode(f"{USER[0]}:{USER[1]}".encode()).decode()

    def get(path: str) -> tuple[float, dict[str, object]]:
        t = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": auth})
        r = conn.getresponse()
        body = r.read()
        elapsed = time.perf_counter() - t
        if r.status != 200:
            raise SystemExit(f"{path}: HTTP {r.status}: {body[:200]!r}")
        return elapsed, json.loads(body)

    q = urllib.parse.quote
    cases = [
        ("rare word (10 of 100k glideins)", f"/api/v1/glideins?q={q('rareword007')}"),
        ("rare word, matching lines", f"/api/v1/search?q={q('rareword007')}"),
        ("common word, first 50", "/api/v1/glideins?q=starting"),
        ("two words AND", f"/api/v1/search?q={q('check failed')}&limit=50"),
        ("prefix", f"/api/v1/search?q={q('rareword04*')}&limit=50"),
        ("filter entry+status, no text", "/api/v1/glideins?entry=ce07&status=failed"),
        ("filter frontend+time window", "/api/v1/glideins?frontend=fe-cms&since="
         f"{time.time() - args.glideins / 2:.0f}&until={time.time() - args.glideins / 4:.0f}"),
        ("one glidein's records",
         f"/api/v1/glideins/ce07/g-{(args.glideins - 13) // 20 * 20 + 7:07d}/records"),
    ]
    try:
        get("/api/v1/glideins?limit=1")  # login cached, connection warm
        for label, path in cases:
            times = []
            for _ in range(args.repeat):
                elapsed, body = get(path)
                times.append(elapsed * 1000)
            n = body.get("total", len(body.get("hits", body.get("records", []))))  # type: ignore[arg-type]
            times.sort()
            p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
            print(f"  {label:34s} p50 {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  "
                  f"max {times[-1]:7.1f} ms  ({n} results)")
    finally:
        conn.close()
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uploads", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--glideins", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--with-files", action="store_true",
                    help="also write each glidein's file (fsync each) when populating")
    ap.add_argument("--index-url", help="index URL for both parts (default: SQLite in the "
                    "work directory); an empty PostgreSQL database for postgresql://...")
    ap.add_argument("--skip-uploads", action="store_true")
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--workdir", help="keep data here instead of a temporary directory")
    args = ap.parse_args()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gwms-lsb-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
              f"SQLite {__import__('sqlite3').sqlite_version}")
        cert, key = make_cert(work)
        ring = KeyRing((new_key("bench-1"),))
        key_file = work / "logs.key"
        write_keyring(key_file, ring)
        users = work / "users"
        users.write_text(user_line(USER[0], "viewer", USER[1]) + "\n")
        if not args.skip_uploads:
            bench_uploads(args, work, ring, key_file, users, cert, key)
        if not args.skip_search:
            bench_search(args, work, key_file, users, cert, key)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
