"""Metadata of a glidein, extracted from its log records (pure functions).

Sources, in order of trust:

1. the glidein's JSON records: ``attrs`` (``factory``, ``frontend``, ``job_id``,
   ``node``; the GlideinWMS names ``GLIDEIN_Factory``, ``GLIDEIN_Frontend_Name``,
   ``GLIDEIN_Site`` ... are accepted too), ``event``/``exit_code`` pairs (``start``,
   ``end``, ``script_start``, ``script_end``) and severities;
2. files the factory collects and uploads as attachments: an HTCondor job event log
   (a file named ``*.log`` whose lines start ``NNN (cluster.proc.sub) date time``)
   gives the job id, the execute node, start/end and the return value; the pilot's
   stdout/stderr (``*.out``/``*.err``) give an exit code from a line
   ``... ending ... with code N`` (the pilot's last words).

The failing script is the first script whose ``script_end`` record has a non-zero
``exit_code``; else the script of the first ``fatal`` record; else, when the glidein
ended non-zero, the script of its last ``error`` record.

This project's pilot writes no ``event`` keys: its messages ``glidein V starting on
NODE ...``, ``script NAME (LEVEL) ok|failed validation|timed out|error|is missing ...
(exit N)`` and ``glidein exiting with status N`` are read as ``start`` (and the node),
``script_end`` of NAME and ``end``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gwms_core.logserver.records import LogRecord

STATUSES = ("running", "succeeded", "failed")

_ATTR_KEYS: Mapping[str, tuple[str, ...]] = {
    "factory": ("factory", "GLIDEIN_Factory", "glidein_factory"),
    "frontend": ("frontend", "GLIDEIN_Frontend_Name", "GLIDEIN_Client", "glidein_frontend"),
    "job_id": ("job_id", "condor_job_id", "GLIDEIN_Job_Id", "GlideinJobId"),
    "node": ("node", "hostname", "GLIDEIN_Node", "host"),
    "site": ("site", "GLIDEIN_Site"),
}

_CONDOR_EVENT = re.compile(
    r"^(?P<code>\d{3}) \((?P<cluster>\d+)\.(?P<proc>\d+)\.\d+\) "
    r"(?P<date>\d{4}-\d{2}-\d{2}|\d{2}/\d{2}(?:/\d{2,4})?) (?P<time>\d{2}:\d{2}:\d{2})"
    r"(?P<rest>.*)$", re.MULTILINE)
_RETURN_VALUE = re.compile(r"\(return value (-?\d+)\)")
_SIGNAL = re.compile(r"\(signal (\d+)\)")
_EXEC_HOST = re.compile(r"executing on host:\s*<(?:[^>]*?alias=(?P<alias>[^&>]+))?[^>]*>")
_SLOT_NAME = re.compile(r"SlotName:\s*\S+@(?P<node>[\w.-]+)")
_PILOT_EXIT = re.compile(r"(?i)\bending\b.*\bwith code (-?\d+)")
# Messages of this project's pilot (glidein/glidein_startup.sh, glidein/lib/scripts.sh),
# which logs no "event" keys: its start, each setup script's result, and its exit.
_PILOT_START = re.compile(r"^glidein \S+ starting on (?P<node>[\w.-]+)")
_PILOT_SCRIPT = re.compile(
    r"^script (?P<name>\S+) \([\w-]+\) (?P<result>ok|failed validation|timed out|error|"
    r"is missing)(?:.*?\(exit (?P<rc>\d+)\))?")
_PILOT_END = re.compile(r"^glidein exiting with status (?P<rc>\d+)")



@dataclass(frozen=True)
class GlideinFacts:
    """What the log server knows about one glidein."""

    entry: str
    glidein: str
    factory: str | None = None
    frontend: str | None = None
    job_id: str | None = None
    node: str | None = None
    site: str | None = None
    start: float | None = None
    end: float | None = None
    last_seen: float | None = None
    exit_status: int | None = None
    failing_script: str | None = None
    errors: int = 0
    #: True when ``exit_status`` comes from HTCondor's job event log (it outranks the
    #: glidein's own ``end`` record: a pilot killed after logging its end is failed).
    exit_from_condor: bool = False

    @property
    def status(self) -> str:
        """``failed``, ``succeeded`` or ``running`` (no end seen yet)."""
        if self.failing_script is not None or self.exit_status not in (None, 0):
            return "failed"
        if self.exit_status == 0:
            return "succeeded"
        return "running"


@dataclass(frozen=True)
class CondorLogFacts:
    """What an HTCondor job event log says about the glidein's job."""

    job_id: str | None = None
    node: str | None = None
    started: float | None = None
    ended: float | None = None
    return_value: int | None = None
    signal: int | None = None


def _event_time(date: str, clock: str, year_hint: int) -> float | None:
    try:
        if "-" in date:
            parsed = dt.datetime.fromisoformat(f"{date}T{clock}")
        else:
            parts = date.split("/")
            year = int(parts[2]) if len(parts) == 3 else year_hint
            if year < 100:
                year += 2000
            hh, mm, ss = (int(x) for x in clock.split(":"))
            parsed = dt.datetime(year, int(parts[0]), int(parts[1]), hh, mm, ss)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC).timestamp()


def parse_condor_log(text: str, year_hint: int = 1970) -> CondorLogFacts:
    """Facts from an HTCondor job event log (times read as UTC).

    Events used: 000 submit (job id), 001 execute (node, start), 005 terminated
    (end, return value or signal), 009 aborted (end).
    """
    facts = CondorLogFacts()
    events = list(_CONDOR_EVENT.finditer(text))
    for i, m in enumerate(events):
        body_end = events[i + 1].start() if i + 1 < len(events) else len(text)
        body = text[m.start():body_end]
        when = _event_time(m["date"], m["time"], year_hint)
        job_id = f"{int(m['cluster'])}.{int(m['proc'])}"
        code = m["code"]
        facts = dataclasses.replace(facts, job_id=facts.job_id or job_id)
        if code == "001":
            node = None
            slot = _SLOT_NAME.search(body)
            host = _EXEC_HOST.search(body)
            if slot:
                node = slot["node"]
            elif host and host["alias"]:
                node = host["alias"]
            facts = dataclasses.replace(facts, started=when, node=node or facts.node)
        elif code == "005":
            rv = _RETURN_VALUE.search(body)
            sig = _SIGNAL.search(body)
            facts = dataclasses.replace(
                facts, ended=when,
                return_value=int(rv.group(1)) if rv else facts.return_value,
                signal=int(sig.group(1)) if sig else facts.signal)
        elif code == "009":
            facts = dataclasses.replace(facts, ended=when)
    return facts


def pilot_exit_code(text: str) -> int | None:
    """The exit code a pilot's stdout/stderr announces last (``... ending ... with code N``)."""
    codes = _PILOT_EXIT.findall(text)
    return int(codes[-1]) if codes else None


def _attr(attrs: Mapping[str, str], name: str) -> str | None:
    for key in _ATTR_KEYS[name]:
        value = attrs.get(key)
        if value:
            return value
    return None


def extract(entry: str, glidein: str, records: Iterable[LogRecord]) -> GlideinFacts:
    """Facts about one glidein from (some of) its records, in log order."""
    values: dict[str, str | None] = dict.fromkeys(_ATTR_KEYS)
    start = end = last = None
    exit_status: int | None = None
    failed_end: str | None = None
    first_fatal: str | None = None
    last_error: str | None = None
    errors = 0
    condor_exit: int | None = None
    stdout_exit: int | None = None
    for rec in records:
        for name in _ATTR_KEYS:
            found = _attr(rec.attrs, name)
            if found and values[name] is None:
                values[name] = found
        start = rec.time if start is None else min(start, rec.time)
        last = rec.time if last is None else max(last, rec.time)
        event, exit_code, script = rec.event, rec.exit_code, rec.script
        if event is None and rec.message is not None:
            if m := _PILOT_END.match(rec.message):
                event, exit_code = "end", int(m["rc"])
            elif m := _PILOT_START.match(rec.message):
                event = "start"
                values["node"] = values["node"] or m["node"]
            elif m := _PILOT_SCRIPT.match(rec.message):
                event, script = "script_end", m["name"]
                exit_code = 0 if m["result"] == "ok" else int(m["rc"] or 1)
        if event == "start":
            start = rec.time
        elif event == "end":
            end = rec.time
            if exit_code is not None:
                exit_status = exit_code
        elif event == "script_end" and exit_code not in (None, 0) and failed_end is None:
            failed_end = script
        if rec.severity == "fatal" and first_fatal is None:
            first_fatal = rec.script
        if rec.severity in ("error", "fatal"):
            errors += 1
            last_error = rec.script
        if rec.file is not None:
            name = rec.file.name
            if name.endswith(".log"):
                cl = parse_condor_log(rec.file.text(),
                                      dt.datetime.fromtimestamp(rec.time, dt.UTC).year)
                values["job_id"] = values["job_id"] or cl.job_id
                values["node"] = values["node"] or cl.node
                if cl.return_value is not None:
                    condor_exit = cl.return_value
                elif cl.signal is not None:
                    condor_exit = 128 + cl.signal
                if cl.ended is not None:
                    end = end or cl.ended
            elif name.endswith((".out", ".err")):
                code = pilot_exit_code(rec.file.text())
                if code is not None:
                    stdout_exit = code
    from_condor = condor_exit is not None
    if from_condor:
        exit_status = condor_exit
    elif exit_status is None:
        exit_status = stdout_exit
    failing = failed_end or first_fatal
    if failing is None and exit_status not in (None, 0):
        failing = last_error
    return GlideinFacts(
        entry=entry, glidein=glidein, factory=values["factory"], frontend=values["frontend"],
        job_id=values["job_id"], node=values["node"], site=values["site"], start=start,
        end=end, last_seen=last, exit_status=exit_status, failing_script=failing,
        errors=errors, exit_from_condor=from_condor)


def merge(old: GlideinFacts | None, new: GlideinFacts) -> GlideinFacts:
    """Facts after a further upload: names keep their first value, times widen, the
    latest exit status wins unless the older one came from HTCondor's event log and the
    newer does not, the first failing script stays."""
    if old is None:
        return new

    def lo(a: float | None, b: float | None) -> float | None:
        return b if a is None else a if b is None else min(a, b)

    def hi(a: float | None, b: float | None) -> float | None:
        return b if a is None else a if b is None else max(a, b)

    exit_status = old.exit_status
    if new.exit_status is not None and (new.exit_from_condor or not old.exit_from_condor):
        exit_status = new.exit_status
    return GlideinFacts(
        entry=old.entry, glidein=old.glidein,
        factory=old.factory or new.factory, frontend=old.frontend or new.frontend,
        job_id=old.job_id or new.job_id, node=old.node or new.node,
        site=old.site or new.site, start=lo(old.start, new.start),
        end=hi(old.end, new.end), last_seen=hi(old.last_seen, new.last_seen),
        exit_status=exit_status, failing_script=old.failing_script or new.failing_script,
        errors=old.errors + new.errors,
        exit_from_condor=old.exit_from_condor or new.exit_from_condor)
