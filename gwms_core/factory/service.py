"""The factory cycle: read the queue and the requests, decide, act, advertise.

One :meth:`Factory.cycle`:

1. query the factory schedd for this factory's glideins (the truth);
2. read the request ads from the WMS collector and accept or refuse each
   (:func:`~gwms_core.factory.intake.read_requests`);
3. per entry, :func:`~gwms_core.factory.decide.plan_entry`;
4. remove, release, then submit: each batch gets a submission id that is written to the
   state file *before* ``submit`` and cleared after it;
5. advertise one ``glidefactory`` ad per entry and one ``glidefactoryclient`` ad per
   request (accepted or refused), with the counts after this cycle's actions.

:meth:`Factory.start` loads the state file (rebuilding it when missing or corrupt) and
reconciles submissions a crash left pending: a batch is in the queue whole or not at
all, so the next cycle's counts are right either way.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gwms_core import defaults
from gwms_core.entries import Entry
from gwms_core.factory import ads as ADS
from gwms_core.factory import attrs as A
from gwms_core.factory import state as ST
from gwms_core.factory.decide import account, orphaned_clients, plan_entry
from gwms_core.factory.intake import Decryptor, Refusal, read_requests
from gwms_core.factory.model import (
    Counts,
    Glidein,
    GlideinState,
    HeldPolicy,
    Plan,
    Policy,
    Request,
)
from gwms_core.manager import PluginRegistry
from gwms_core.types import Family, SubmissionBackend
from gwms_core.wake import ChangeWatch

log = logging.getLogger("gwms.factory")

STATE_FILE = "factory-state.json"
#: Seconds to wait at start, when the state file lists pending submissions, before
#: Glideins whose collected output is sent to the log server per cycle, at most.
COLLECT_PER_CYCLE = 50
#: counting the queue: a transaction the killed process left open is aborted by the schedd
#: when it sees the connection close.
SETTLE_SECONDS = 1.0


class ScheddLike(Protocol):
    """What the cycle needs from :class:`~gwms_core.factory.schedd.FactorySchedd`."""

    def glideins(self) -> list[Glidein]: ...
    def count_submission(self, submission_id: str) -> int: ...
    def submit(self, description: Mapping[str, str], count: int) -> int: ...
    def remove(self, job_ids: Sequence[str], reason: str) -> int: ...
    def release(self, glideins: Sequence[Glidein], reason: str) -> int: ...


class CollectorLike(Protocol):
    """What the cycle needs from :class:`~gwms_core.factory.collector.WmsCollector`."""

    def advertise(self, ads: Sequence[Mapping[str, Any]], lifetime_s: int) -> int: ...
    def invalidate(self, mytype: str, names: Sequence[str]) -> int: ...
    def requests(self, factory: str, glidein: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class FactoryConfig:
    """What the factory service needs, from a ``kind: factory`` file or built directly."""

    name: str
    wms_collector: str
    work_dir: Path
    glidein_name: str = ""
    schedd: str | None = None
    cycle_seconds: int = defaults.CYCLE_SECONDS
    policy: Policy = field(default_factory=Policy)
    staging_dir: Path | None = None
    staging_url: str = ""
    #: Glidein executable; default ``<staging_dir>/glidein_startup.sh``.
    executable: str = ""
    #: Directory for glidein stdout/stderr on the schedd host ("" = none), in per-client
    #: subdirectories ``<log_dir>/<entry>/<client>/<cluster>.<proc>.out|err``.
    log_dir: str = ""
    #: The glideins' ``initialdir`` on the schedd host; "" = ``work_dir``.
    initialdir: str = ""
    #: Factory private keys (PEM), newest first: request parameters sealed to any of them
    #: are decrypted; the first one's public half is published in every entry ad.
    key_files: tuple[Path, ...] = ()
    entry_sources: tuple[Mapping[str, Any], ...] = ()
    backends: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    base_dir: Path = Path(".")
    #: ``log_server`` section: ``url``, ``key_file``, ``ca_file``, ``token_lifetime_s``
    #: (gwms_core.logserver.factory.GlideinLogIssuer); empty: glideins keep logs local.
    log_server: Mapping[str, Any] = field(default_factory=dict)

    @property
    def glidein(self) -> str:
        """``GlideinName``: the configured glidein name, else the factory name."""
        return self.glidein_name or self.name

    @property
    def state_path(self) -> Path:
        """The state file."""
        return self.work_dir / STATE_FILE

    @classmethod
    def from_file(cls, path: Path | str, registry: PluginRegistry | None = None) -> FactoryConfig:
        """Load and validate a ``kind: factory`` file (ConfigError on problems)."""
        from gwms_core.config import load_config

        cfg = load_config(path, registry, expect_kind="factory")
        d = cfg.data
        base = Path(path).resolve().parent
        staging = d.get("staging") or {}
        policy = Policy(max_submit_per_cycle=int(d.get("max_submit_per_cycle",
                                                       defaults.MAX_SUBMIT_PER_CYCLE)),
                        idle_lifetime_s=int(d.get("idle_lifetime_s",
                                                  defaults.IDLE_LIFETIME_SECONDS)),
                        held=HeldPolicy.from_config(d.get("held_glideins")),
                        orphan_grace_s=int(d.get("orphan_grace_s",
                                                 defaults.ORPHAN_GRACE_SECONDS)))
        work_dir = Path(str(d.get("work_dir", defaults.FACTORY_WORK_DIR)))
        log_dir = str(d.get("glidein_log_dir", defaults.FACTORY_GLIDEIN_LOG_DIR))
        return cls(
            name=str(d["name"]), wms_collector=str(d["wms_collector"]),
            work_dir=work_dir, glidein_name=str(d.get("glidein_name", "")),
            schedd=d.get("schedd"), cycle_seconds=int(d.get("cycle_seconds",
                                                            defaults.CYCLE_SECONDS)),
            policy=policy,
            staging_dir=Path(staging["dir"]) if staging.get("dir") else None,
            staging_url=str(staging.get("url", "")),
            executable=str(d.get("executable", "")),
            log_dir=str(work_dir / log_dir) if log_dir else "",
            initialdir=str(work_dir / str(d["initialdir"])) if d.get("initialdir") else "",
            key_files=tuple(base / str(k) for k in d.get("key_files", ())),
            entry_sources=tuple(d.get("entry_sources", ())),
            backends=dict(d.get("backends", {})),
            base_dir=base,
            log_server=dict(d.get("log_server") or {}),
        )


def load_entries(cfg: FactoryConfig, registry: PluginRegistry) -> tuple[dict[str, Entry],
                                                                          list[str]]:
    """Entries from every configured source; a failing source is reported, others kept.

    An entry name defined by two sources is an error for the second one.
    """
    entries: dict[str, Entry] = {}
    errors: list[str] = []
    for i, src in enumerate(cfg.entry_sources):
        kind = str(src.get("type", ""))
        try:
            reg = registry.get(Family.ENTRY_SOURCE, kind)
            options = {k: v for k, v in src.items() if k != "type"}
            loaded = reg.handler.load(options, cfg.base_dir)  # type: ignore[union-attr]
        except Exception as exc:  # a source's failure must not stop the others
            errors.append(f"entry_sources[{i}] ({kind}): {type(exc).__name__}: {exc}")
            continue
        for e in loaded:
            if e.name in entries:
                errors.append(f"entry_sources[{i}] ({kind}): entry {e.name!r} defined twice")
                continue
            entries[e.name] = e
    return entries, errors


@dataclass(slots=True)
class CycleReport:
    """What one cycle saw and did."""

    started: float = 0.0
    glideins: int = 0
    accepted: list[Request] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    #: Glideins submitted by (entry, client) and by (entry, frontend identity, client,
    #: credential id).
    submitted: dict[tuple[str, str], int] = field(default_factory=dict)
    submitted_by_frontend: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    removed: dict[tuple[str, str], int] = field(default_factory=dict)
    released: int = 0
    #: Clients (entry, frontend identity, client, credential id) whose request has been
    #: gone longer than the orphan grace period.
    orphaned: list[tuple[str, str, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    counts: dict[str, Counts] = field(default_factory=dict)
    #: Counts after the cycle by (entry, frontend identity, client, credential id).
    client_counts: dict[tuple[str, str, str, str], Counts] = field(default_factory=dict)
    duration: float = 0.0


class Factory:
    """The factory service: state, schedd and collector edges, and the cycle."""

    def __init__(self, cfg: FactoryConfig, schedd: ScheddLike, collector: CollectorLike,
                 registry: PluginRegistry, decryptor: Decryptor | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.schedd = schedd
        self.collector = collector
        self.registry = registry
        self.decryptor = decryptor
        self.clock = clock
        self.state = ST.State()
        self.lock_fd: int | None = None
        self.pubkey_attrs: dict[str, str] = {}
        if cfg.key_files:
            from gwms_core.credentials.sealing import (
                FactoryKeyDecryptor,
                public_key_attrs,
                public_key_pem,
            )

            keys = FactoryKeyDecryptor.from_files(cfg.key_files)
            self.decryptor = decryptor or keys
            self.pubkey_attrs = public_key_attrs(public_key_pem(cfg.key_files[0].read_bytes()))
        self.advertised: set[str] = set()
        self.last: CycleReport | None = None
        from gwms_core.logserver.factory import GlideinLogIssuer

        #: Upload token and log URL per glidein, when a log server is configured.
        self.glidein_log = GlideinLogIssuer.from_options(cfg.log_server, cfg.work_dir)
        #: The queue of the last cycle, to see which glideins left it since.
        self._live: dict[str, Glidein] = {}
        #: Since the process started, for metrics: submitted by (entry, client),
        #: removed by (entry, reason), cycles by result.
        self.submitted_total: dict[tuple[str, str], int] = defaultdict(int)
        self.removed_total: dict[tuple[str, str], int] = defaultdict(int)
        self.cycles: dict[str, int] = defaultdict(int)

    def metrics(self) -> str:
        """Prometheus text of the last cycle and the totals (empty before any cycle)."""
        from gwms_core.factory.metrics import render

        if self.last is None:
            return ""
        return render(self.last, self.submitted_total, self.removed_total, self.cycles)

    # ----------------------------------------------------------------- start and state

    def start(self, settle_s: float = SETTLE_SECONDS) -> list[str]:
        """Take the work directory's lock, load (or rebuild) the state and reconcile pending
        submissions; return messages. :class:`~gwms_core.factory.state.AlreadyRunning`
        when another process holds the lock."""
        notes: list[str] = []
        if self.lock_fd is None:
            self.lock_fd = ST.lock(self.cfg.work_dir)
        path = self.cfg.state_path
        n_tmp = ST.clean_temporaries(path)
        if n_tmp:
            notes.append(f"removed {n_tmp} temporary state file(s) left by a crash")
        self.state = ST.load(path)
        if self.state.rebuilt:
            notes.append(f"state file {path} {self.state.rebuilt}: rebuilt from the queue")
        if self.state.pending and settle_s > 0:
            time.sleep(settle_s)
        notes.extend(self.reconcile())
        ST.save(path, self.state)
        for n in notes:
            log.warning("%s", n)
        return notes

    def close(self) -> None:
        """Release the work directory's lock."""
        if self.lock_fd is not None:
            import os

            os.close(self.lock_fd)
            self.lock_fd = None

    def reconcile(self) -> list[str]:
        """Resolve pending submissions against the queue; return what was found."""
        notes = []
        for sid, p in sorted(self.state.pending.items()):
            n = self.schedd.count_submission(sid)
            if n:
                notes.append(f"submission {sid} ({p.entry}/{p.client}) reached the queue: "
                             f"{n} of {p.count} glidein(s)")
                self.state.bump("submitted", n)
            else:
                notes.append(f"submission {sid} ({p.entry}/{p.client}) never reached the queue")
            del self.state.pending[sid]
        return notes

    # ----------------------------------------------------------------- submission

    def backend(self, entry: Entry) -> tuple[SubmissionBackend, Mapping[str, Any]]:
        """The entry's backend registration and its configured options."""
        reg = self.registry.get(Family.BACKEND, entry.grid_type)
        assert isinstance(reg, SubmissionBackend)
        return reg, self.cfg.backends.get(entry.grid_type, {})

    def manifest(self) -> tuple[str, str]:
        """(manifest URL, manifest sha256) of the staging area, ("", "") without one."""
        if self.cfg.staging_dir is None:
            return "", ""
        from gwms_core.staging import MANIFEST_NAME, read_manifest

        digest = read_manifest(self.cfg.staging_dir).digest
        return f"{self.cfg.staging_url.rstrip('/')}/{MANIFEST_NAME}", digest

    def executable(self) -> str:
        """The glidein executable path."""
        if self.cfg.executable:
            return self.cfg.executable
        if self.cfg.staging_dir is not None:
            return str(self.cfg.staging_dir / "glidein_startup.sh")
        raise RuntimeError("no glidein executable: configure staging or an executable")

    def credential_files(self, request: Request,
                         secrets: Mapping[str, str]) -> dict[str, str]:
        """Write a request's decrypted credentials to files (0600) under
        ``<work_dir>/credentials/<id>/``; return parameter name -> path.

        ``<id>`` is derived from (entry, frontend identity, client) and, unless it is the
        default one, the credential id, so each request's files are its own and are
        rewritten only when the frontend sends new values.
        """
        import hashlib

        key = f"{request.entry}\0{request.frontend}\0{request.client}".encode()
        if request.credential != A.DEFAULT_CREDENTIAL:
            key += f"\0{request.credential}".encode()
        directory = self.cfg.work_dir / "credentials" / hashlib.sha256(key).hexdigest()[:16]
        out: dict[str, str] = {}
        for name, filename in ADS.CREDENTIAL_FILES.items():
            if name in secrets:
                path = directory / filename
                ST.write_private(path, secrets[name].encode("utf-8"))
                out[name] = str(path)
        return out

    def description(self, entry: Entry, request: Request, submission_id: str,
                    manifest: tuple[str, str],
                    secrets: Mapping[str, str] | None = None) -> dict[str, str]:
        """The submit description of one batch."""
        reg, options = self.backend(entry)
        url, digest = manifest
        files = self.credential_files(request, secrets) if secrets else {}
        creds, token_file = ADS.credential_commands(
            files, request.params.get("SubmitCredentialMethod", ""))
        arguments = ADS.glidein_arguments(entry, request, self.cfg.name, url, digest,
                                          token_file=token_file,
                                          extra=ADS.entry_glidein_params(entry),
                                          schedd=str(getattr(self.schedd, "name", "") or ""))
        plugin_attrs = self.registry.submit_attributes(entry, request.frontend)
        return ADS.submit_description(
            entry, reg.handler, options, request, factory=self.cfg.name,
            glidein=self.cfg.glidein, submission_id=submission_id,
            executable=self.executable(), arguments=arguments,
            log_dir=ADS.glidein_log_dir(self.cfg.log_dir, entry.name, request.client),
            initialdir=self.cfg.initialdir or str(self.cfg.work_dir),
            plugin_attrs=plugin_attrs, credentials=creds)

    def _submit(self, entry: Entry, request: Request, n: int, manifest: tuple[str, str],
                report: CycleReport, secrets: Mapping[str, str] | None = None) -> None:
        sid = ST.new_submission_id()
        try:
            desc = self.description(entry, request, sid, manifest, secrets)
            if self.glidein_log is not None:
                desc = self.glidein_log.add_to_batch(desc, entry.name, sid, n, self.clock())
        except Exception as exc:
            report.errors.append(f"{entry.name}/{request.client}: cannot build submission: "
                                 f"{type(exc).__name__}: {exc}")
            return
        log_dir = ADS.glidein_log_dir(self.cfg.log_dir, entry.name, request.client)
        if log_dir:
            try:
                Path(log_dir).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                report.errors.append(f"{entry.name}/{request.client}: glidein log directory "
                                     f"{log_dir}: {exc.strerror or exc}")
                return
        self.state.pending[sid] = ST.Pending(entry.name, request.client, n, self.clock())
        ST.save(self.cfg.state_path, self.state)
        try:
            self.schedd.submit(desc, n)
            done = n
        except Exception as exc:
            report.errors.append(f"{entry.name}/{request.client}: submit of {n} failed: "
                                 f"{type(exc).__name__}: {exc}")
            try:
                done = self.schedd.count_submission(sid)
            except Exception:  # the schedd is gone: the next cycle reconciles the batch
                return
        # The pending record is cleared in memory; the end-of-cycle save writes it. A crash
        # before that leaves it pending, and start() finds the batch in the queue.
        del self.state.pending[sid]
        self.state.bump("submitted", done)
        if done:
            key = (entry.name, request.client)
            report.submitted[key] = report.submitted.get(key, 0) + done
            fkey = (entry.name, *request.client_key)
            report.submitted_by_frontend[fkey] = report.submitted_by_frontend.get(fkey, 0) + done

    # ----------------------------------------------------------------- the cycle

    def cycle(self, entries: Mapping[str, Entry]) -> CycleReport:
        """Run one cycle over ``entries``; errors are reported, never raised per entry."""
        t0 = time.monotonic()
        report = CycleReport(started=self.clock())
        now = int(report.started)
        if self.state.pending:  # a batch whose outcome a schedd error left unknown
            for note in self.reconcile():
                log.warning("%s", note)
        glideins = self.schedd.glideins()
        report.glideins = len(glideins)
        self._collect_ended(glideins)
        requests_read = True
        try:
            ads = self.collector.requests(self.cfg.name, self.cfg.glidein)
        except Exception as exc:
            report.errors.append(f"reading requests: {type(exc).__name__}: {exc}")
            ads = []
            requests_read = False
        intake = read_requests(ads, entries, self.cfg.name, self.cfg.glidein, self.decryptor)
        orphaned: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        if requests_read:  # an unreadable collector says nothing about absent requests
            found = orphaned_clients(glideins, intake.requests, self.state.request_seen, now,
                                     self.cfg.policy.orphan_grace_s)
            self.state.request_seen = dict(found.last_seen)
            for e, f, c, k in sorted(found.orphaned):
                orphaned[e].add((f, c, k))
                report.orphaned.append((e, f, c, k))
        report.accepted = list(intake.requests)
        report.refused = list(intake.refused)
        for r in intake.refused:
            log.warning("request from %r (%s) refused at entry %s: %s",
                        r.client, r.identity or "unauthenticated", r.entry, r.reason)
        by_entry_g: dict[str, list[Glidein]] = defaultdict(list)
        for g in glideins:
            by_entry_g[g.entry].append(g)
        by_entry_r: dict[str, list[Request]] = defaultdict(list)
        for rq in intake.requests:
            by_entry_r[rq.entry].append(rq)
        manifest: tuple[str, str] | None = None
        gone: set[str] = set()
        for name in sorted(entries):
            entry = entries[name]
            plan = plan_entry(name, entry.limits, by_entry_g.get(name, []),
                              by_entry_r.get(name, []), self.cfg.policy, now,
                              entry.in_downtime, orphaned.get(name, ()))
            report.plans.append(plan)
            if plan.in_pool:
                log.info("%s: %d glidein(s) the queue shows waiting are in the pool "
                         "(GlideinsInPool), counted as running: %s", name,
                         len(plan.in_pool), " ".join(plan.in_pool[:20]))
            self._remove(plan, report, gone)
            if plan.release:
                try:
                    report.released += self.schedd.release(
                        [a.glidein for a in plan.release], plan.release[0].reason.value)
                    self.state.bump("released", len(plan.release))
                except Exception as exc:
                    report.errors.append(f"{name}: release failed: {type(exc).__name__}: {exc}")
            if plan.submit and manifest is None:
                try:
                    manifest = self.manifest()
                except Exception as exc:
                    # Glideins without a verifiable manifest would fail on the worker node.
                    report.errors.append(f"staging manifest unreadable, nothing submitted: "
                                         f"{type(exc).__name__}: {exc}")
                    manifest = ("!", "!")
            if manifest == ("!", "!"):
                continue
            for action in plan.submit:
                rq = action.request
                self._submit(entry, rq, action.count, manifest or ("", ""), report,
                             intake.secrets.get((rq.entry, *rq.client_key)))
        ST.save(self.cfg.state_path, self.state)
        self._advertise(entries, glideins, gone, intake.requests, intake.refused, report)
        report.duration = time.monotonic() - t0
        for key, n in report.submitted.items():
            self.submitted_total[key] += n
        for key, n in report.removed.items():
            self.removed_total[key] += n
        self.cycles["error" if report.errors else "ok"] += 1
        self.last = report
        return report

    def _collect_ended(self, glideins: Sequence[Glidein]) -> None:
        """Send the stdout/stderr of the glideins that left the queue since the last cycle
        to the log server (at most :data:`COLLECT_PER_CYCLE` a cycle; failures are logged,
        never raised). Glideins that ended while the factory was down are not sent."""
        if self.glidein_log is None:
            return
        from gwms_core.logserver.factory import collected_log_name

        current = {g.job_id: g for g in glideins}
        ended = [g for job_id, g in sorted(self._live.items()) if job_id not in current]
        self._live = current
        for g in ended[:COLLECT_PER_CYCLE]:
            name = collected_log_name(g.submission, g.job_id)
            base = ADS.glidein_log_dir(self.cfg.log_dir, g.entry, g.client)
            if name is None or not base:
                continue
            paths = [Path(base) / f"{g.job_id}.out", Path(base) / f"{g.job_id}.err"]
            try:
                answer = self.glidein_log.upload_collected(g.entry, name, g.job_id, paths,
                                                           self.clock())
            except Exception as exc:
                log.warning("glidein %s (%s/%s): sending its output to the log server "
                            "failed: %s", g.job_id, g.entry, name, exc)
                continue
            if answer is not None and not answer.ok:
                log.warning("glidein %s (%s/%s): the log server refused its output: %d %s",
                            g.job_id, g.entry, name, answer.status,
                            answer.body.get("error", ""))

    def _remove(self, plan: Plan, report: CycleReport, gone: set[str]) -> None:
        by_reason: dict[str, list[str]] = defaultdict(list)
        for a in plan.remove:
            by_reason[a.reason.value].append(a.glidein.job_id)
        for reason, ids in by_reason.items():
            try:
                self.schedd.remove(ids, reason)
            except Exception as exc:
                report.errors.append(f"{plan.entry}: remove failed: {type(exc).__name__}: {exc}")
                continue
            gone.update(ids)
            self.state.bump("removed", len(ids))
            report.removed[(plan.entry, reason)] = len(ids)

    def _advertise(self, entries: Mapping[str, Entry], glideins: Sequence[Glidein],
                   gone: set[str], accepted: Sequence[Request], refused: Sequence[Refusal],
                   report: CycleReport) -> None:
        # Counts after this cycle: removed ones as removed, new ones as unsubmitted.
        after = [g if g.job_id not in gone else _as_removed(g) for g in glideins]
        acct = account(after)
        sub_by_client = dict(report.submitted_by_frontend)
        entry_counts: dict[str, Counts] = {}
        for name in entries:
            c = acct.entry(name)
            extra = sum(n for (e, *_), n in sub_by_client.items() if e == name)
            entry_counts[name] = _plus_unsubmitted(c, extra)
        client_counts = {
            key: _plus_unsubmitted(acct.clients.get(key, Counts()), sub_by_client.get(key, 0))
            for key in {*acct.clients, *sub_by_client}}
        report.counts = entry_counts
        report.client_counts = client_counts
        out: list[dict[str, Any]] = []
        for name, entry in sorted(entries.items()):
            grid_resource = ""
            try:
                grid_resource = self.backend(entry)[0].handler.grid_resource(entry)
            except Exception as exc:
                report.errors.append(f"{name}: backend {entry.grid_type!r}: {exc}")
            ad = ADS.entry_ad(entry, self.cfg.name, self.cfg.glidein, entry_counts[name],
                              grid_resource)
            ad.update(self.pubkey_attrs)
            out.append(ad)
        for rq in accepted:
            out.append(ADS.client_ad(rq.entry, rq.client, self.cfg.name, self.cfg.glidein,
                                     client_counts.get((rq.entry, *rq.client_key), Counts()),
                                     identity=rq.frontend, request=rq,
                                     credential=rq.credential))
        for rf in refused:
            if rf.client and rf.entry in entries:
                out.append(ADS.client_ad(rf.entry, rf.client, self.cfg.name, self.cfg.glidein,
                                         Counts(), identity=rf.identity, refused=rf.reason,
                                         credential=rf.credential))
        names = {str(ad["Name"]) for ad in out if ad["MyType"] == A.ENTRY_MYTYPE}
        try:
            self.collector.advertise(out, lifetime_s=3 * self.cfg.cycle_seconds)
            stale = sorted(self.advertised - names)
            if stale:
                self.collector.invalidate(A.ENTRY_MYTYPE, stale)
            self.advertised = names
        except Exception as exc:
            report.errors.append(f"advertising: {type(exc).__name__}: {exc}")

    def run(self, entries_loader: Callable[[], Mapping[str, Entry]], once: bool = False,
            stop: Callable[[], bool] = lambda: False,
            watch: ChangeWatch | None = None) -> CycleReport | None:
        """Cycle every ``cycle_seconds`` (entries reloaded each cycle) until ``stop()``;
        with ``watch``, a cycle starts early when a request is new or asks for more
        (:mod:`gwms_core.wake`)."""
        self.start()
        while True:
            t0 = time.monotonic()
            if watch is not None:
                watch.snapshot()
            try:
                report = self.cycle(entries_loader())
                for e in report.errors:
                    log.error("%s", e)
            except Exception as exc:  # the service keeps cycling
                log.error("cycle failed: %s: %s", type(exc).__name__, exc)
                report = None
            if once or stop():
                return report
            if watch is not None:
                if watch.wait(t0, self.cfg.cycle_seconds, stop) == "change":
                    log.info("new or higher requests: cycle %.1f s after the last one",
                             time.monotonic() - t0)
                if stop():
                    return report
                continue
            wake = t0 + self.cfg.cycle_seconds
            while not stop() and time.monotonic() < wake:
                time.sleep(min(0.5, max(0.0, wake - time.monotonic())))
            if stop():
                return report


def _as_removed(g: Glidein) -> Glidein:
    from dataclasses import replace

    return replace(g, state=GlideinState.REMOVED)


def _plus_unsubmitted(c: Counts, n: int) -> Counts:
    from dataclasses import replace

    return replace(c, unsubmitted=c.unsubmitted + n) if n else c
