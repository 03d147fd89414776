"""The glidein's JSON log: parse, validate, sanitise and re-serialise one upload.

An upload body is JSON lines (UTF-8), one object per line::

    {"time": 1764014400.25, "script": "validate_node.sh", "pid": 4711,
     "severity": "error", "message": "scratch space: 1 GB free, 10 GB required"}
    {"time": "2026-11-24T20:00:01Z", "script": "validate_node.sh", "pid": 4711,
     "severity": "error", "file": {"name": "validate_node.out",
                                   "encoding": "gzip+base64", "data": "H4sI..."}}

Required: ``time`` (seconds since the epoch, or an ISO-8601 string with a zone),
``script`` (a string), ``severity`` (``debug info warning error fatal``; the aliases
``warn notice err critical crit`` are accepted) and ``message`` (a string) or ``file``
(an attached file, gzip-compressed then base64-encoded, or ``base64`` alone) or both,
as the pilot's ``gwms_log_attach`` writes them. Optional:
``pid`` (integer), ``event`` (``start end script_start script_end``), ``exit_code``
(integer) and ``attrs`` (an object of string/number values: ``factory``, ``entry``,
``frontend``, ``job_id``, ``node``, ...). Other keys are kept as they are.

:func:`parse_upload` is pure: bytes in, :class:`ParsedUpload` out (the sanitised
records and the exact bytes to store), or :class:`UploadError` with the HTTP status
that fits (400 for bytes that are not JSON lines, 413 for attachments that inflate
too far, 422 for JSON that is not a valid record).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import io
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gwms_core.logserver.sanitize import Sanitizer
from gwms_core.logserver.tokens import NAME_RE

SEVERITIES = ("debug", "info", "warning", "error", "fatal")
_ALIASES = {"warn": "warning", "notice": "info", "err": "error", "critical": "fatal",
            "crit": "fatal"}
EVENTS = ("start", "end", "script_start", "script_end")
#: Encodings an attached file may use.
FILE_ENCODINGS = ("gzip+base64", "base64")


class UploadError(Exception):
    """An upload was refused; :attr:`status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Attachment:
    """A file attached to a record, decompressed and sanitised."""

    name: str
    data: bytes = field(repr=False)

    def text(self) -> str:
        """The content as text (UTF-8, undecodable bytes replaced)."""
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class LogRecord:
    """One validated, sanitised record of a glidein's log."""

    time: float
    script: str
    severity: str
    pid: int | None = None
    message: str | None = None
    file: Attachment | None = None
    event: str | None = None
    exit_code: int | None = None
    attrs: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message and the attached file's text: what is indexed."""
        parts = [self.message] if self.message is not None else []
        if self.file is not None:
            parts.append(self.file.text())
        return "\n".join(parts)


@dataclass(frozen=True)
class ParsedUpload:
    """What :func:`parse_upload` returns."""

    records: tuple[LogRecord, ...]
    #: The sanitised JSON lines to store (what downloads return).
    stored: bytes = field(repr=False)
    #: How many secrets the sanitiser replaced.
    redactions: int = 0


def _parse_time(value: Any, lineno: int) -> float:
    if isinstance(value, bool):
        raise UploadError(422, f"line {lineno}: 'time' must be a number or ISO-8601 string")
    if isinstance(value, int | float):
        t = float(value)
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise UploadError(422, f"line {lineno}: 'time' is not ISO-8601") from exc
        if parsed.tzinfo is None:
            raise UploadError(422, f"line {lineno}: 'time' has no time zone")
        t = parsed.timestamp()
    else:
        raise UploadError(422, f"line {lineno}: 'time' must be a number or ISO-8601 string")
    if not 0 <= t < 1e11:
        raise UploadError(422, f"line {lineno}: 'time' out of range")
    return t


def _decode_file(obj: Any, lineno: int, budget: int) -> tuple[str, bytes]:
    if not isinstance(obj, dict):
        raise UploadError(422, f"line {lineno}: 'file' must be an object")
    name, encoding, data = obj.get("name"), obj.get("encoding"), obj.get("data")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UploadError(422, f"line {lineno}: 'file.name' must be a plain file name")
    if encoding not in FILE_ENCODINGS:
        raise UploadError(422, f"line {lineno}: 'file.encoding' must be one of "
                               f"{', '.join(FILE_ENCODINGS)}")
    if not isinstance(data, str):
        raise UploadError(422, f"line {lineno}: 'file.data' must be a string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UploadError(422, f"line {lineno}: 'file.data' is not base64") from exc
    if encoding == "base64":
        if len(raw) > budget:
            raise UploadError(413, f"line {lineno}: attached files inflate beyond "
                                   "the upload limit")
        return name, raw
    try:
        chunks: list[bytes] = []
        size = 0
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            while size <= budget:
                chunk = gz.read(256 * 1024)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        content = b"".join(chunks)
    except (OSError, EOFError, zlib.error) as exc:
        raise UploadError(422, f"line {lineno}: 'file.data' is not gzip data") from exc
    if len(content) > budget:
        raise UploadError(413, f"line {lineno}: attached files inflate beyond "
                               "the upload limit")
    return name, content


def _encode_file(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data, compresslevel=6, mtime=0)).decode("ascii")


def _clean_value(value: Any, sanitizer: Sanitizer, count: list[int]) -> Any:
    if isinstance(value, str):
        cleaned, n = sanitizer.clean(value)
        count[0] += n
        return cleaned
    if isinstance(value, list):
        return [_clean_value(v, sanitizer, count) for v in value]
    if isinstance(value, dict):
        return {_clean_value(k, sanitizer, count): _clean_value(v, sanitizer, count)
                for k, v in value.items()}
    return value


def _int_or_none(obj: Mapping[str, Any], key: str, lineno: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UploadError(422, f"line {lineno}: {key!r} must be an integer")
    return value


def parse_upload(body: bytes, sanitizer: Sanitizer, *,
                 max_inflated: int = 64 * 1024 * 1024) -> ParsedUpload:
    """Validate and sanitise one upload (see the module docstring for the format).

    :param max_inflated: bytes all attached files of this upload may inflate to.
    :raises UploadError: 400, 413 or 422 as described above; nothing is half-parsed.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UploadError(400, f"body is not UTF-8 (byte {exc.start})") from exc
    records: list[LogRecord] = []
    out: list[str] = []
    count = [0]
    budget = max_inflated
    parsed: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UploadError(400, f"line {lineno}: not JSON ({exc.msg})") from exc
    for lineno, obj in parsed:
        if not isinstance(obj, dict):
            raise UploadError(422, f"line {lineno}: a record must be a JSON object")
        t = _parse_time(obj.get("time"), lineno)
        script = obj.get("script")
        if not isinstance(script, str) or not script:
            raise UploadError(422, f"line {lineno}: 'script' must be a non-empty string")
        severity = obj.get("severity")
        if not isinstance(severity, str):
            raise UploadError(422, f"line {lineno}: 'severity' must be a string")
        sev = _ALIASES.get(severity.lower(), severity.lower())
        if sev not in SEVERITIES:
            raise UploadError(422, f"line {lineno}: 'severity' must be one of "
                                   f"{', '.join(SEVERITIES)}")
        has_msg, has_file = "message" in obj, "file" in obj
        if not (has_msg or has_file):
            raise UploadError(422, f"line {lineno}: a record needs 'message' or 'file'")
        if has_msg and not isinstance(obj["message"], str):
            raise UploadError(422, f"line {lineno}: 'message' must be a string")
        pid = _int_or_none(obj, "pid", lineno)
        exit_code = _int_or_none(obj, "exit_code", lineno)
        event = obj.get("event")
        if event is not None and event not in EVENTS:
            raise UploadError(422, f"line {lineno}: 'event' must be one of {', '.join(EVENTS)}")
        attrs_in = obj.get("attrs", {})
        if not isinstance(attrs_in, dict) or not all(
                isinstance(v, str | int | float) and not isinstance(v, bool)
                for v in attrs_in.values()):
            raise UploadError(422, f"line {lineno}: 'attrs' must map names to strings "
                                   "or numbers")
        attachment = None
        clean = {k: _clean_value(v, sanitizer, count) for k, v in obj.items() if k != "file"}
        if has_file:
            name, content = _decode_file(obj["file"], lineno, budget)
            budget -= len(content)
            content, n = sanitizer.clean_bytes(content)
            count[0] += n
            attachment = Attachment(name=name, data=content)
            extra = {k: _clean_value(v, sanitizer, count) for k, v in obj["file"].items()
                     if k not in ("name", "encoding", "data")}
            clean["file"] = {"name": name, "encoding": "gzip+base64", **extra,
                             "data": _encode_file(content)}
        attrs = {str(k): str(v) for k, v in clean.get("attrs", {}).items()}
        records.append(LogRecord(
            time=t, script=clean["script"], severity=sev, pid=pid,
            message=clean.get("message"), file=attachment, event=event,
            exit_code=exit_code, attrs=attrs))
        out.append(json.dumps(clean, separators=(",", ":"), ensure_ascii=False))
    if not records:
        raise UploadError(422, "no record in the upload")
    stored = ("\n".join(out) + "\n").encode("utf-8")
    return ParsedUpload(records=tuple(records), stored=stored, redactions=count[0])


def resume_chunk(received: int, offset: int, body: bytes) -> tuple[str, bytes]:
    """What to do with an appended chunk the client says starts at byte ``offset`` of its
    local log, when ``received`` bytes of that log arrived before (pure).

    Returns ``("duplicate", b"")`` for a retry of data already stored, ``("append",
    rest)`` with the part not yet stored (a retry that grew), or ``("gap", body)`` when
    bytes are missing before it (stored anyway; the missing records are lost).

    :raises UploadError: 409 when the overlap does not end on a line boundary.
    """
    end = offset + len(body)
    if end <= received:
        return "duplicate", b""
    if offset < received:
        skip = received - offset
        if body[skip - 1:skip] != b"\n":
            raise UploadError(409, f"chunk at offset {offset} overlaps the {received} bytes "
                                   "already received, not at a line boundary")
        return "append", body[skip:]
    if offset > received:
        return "gap", body
    return "append", body


def read_stored(data: bytes) -> tuple[LogRecord, ...]:
    """Records of a file the server stored (already sanitised; no second pass)."""
    return parse_upload(data, _NOOP, max_inflated=1 << 40).records


class _NoopSanitizer(Sanitizer):
    def clean(self, text: str) -> tuple[str, int]:
        return text, 0

    def clean_bytes(self, data: bytes) -> tuple[bytes, int]:
        return data, 0


_NOOP = _NoopSanitizer()
