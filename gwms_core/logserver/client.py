"""Upload side for Python callers (the factory sending the files it collects).

The glidein itself uploads with curl (see docs/logserver.md); the factory uses
:func:`attachment_record` to wrap a pilot's stdout/stderr or the HTCondor job event
log it collected, and :func:`upload` to send them with a token it mints for that
glidein (:func:`gwms_core.logserver.tokens.mint`).
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit


@dataclass(frozen=True)
class UploadAnswer:
    """The server's answer: HTTP status and its JSON body."""

    status: int
    body: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        """True for 200/201."""
        return self.status in (200, 201)


def attachment_record(name: str, data: bytes, *, script: str = "factory",
                      severity: str = "info", when: float | None = None,
                      attrs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A log record carrying a file (gzip+base64), e.g. ``job.123.0.log`` or ``.err``."""
    rec: dict[str, Any] = {
        "time": time.time() if when is None else when, "script": script,
        "severity": severity,
        "file": {"name": name, "encoding": "gzip+base64",
                 "data": base64.b64encode(gzip.compress(data)).decode("ascii")}}
    if attrs:
        rec["attrs"] = dict(attrs)
    return rec


def encode(records: Iterable[Mapping[str, Any]]) -> bytes:
    """JSON-lines body of an upload."""
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()


def upload(base_url: str, token: str, entry: str, glidein: str, name: str, body: bytes, *,
           append: bool = False, cafile: str | None = None, timeout: float = 60.0
           ) -> UploadAnswer:
    """PUT (or POST with ``append``) one log file; never raises on an HTTP refusal.

    :param base_url: ``https://host:port`` of the log server.
    :param cafile: CA bundle to verify the server with (system default if None).
    """
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("the log server URL must be https://HOST[:PORT]")
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, context=ctx,
                                       timeout=timeout)
    path = "/logs/" + "/".join(quote(p, safe="") for p in (entry, glidein, name))
    try:
        conn.request("POST" if append else "PUT", path, body=body,
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"error": raw[:200].decode("utf-8", "replace")}
    return UploadAnswer(resp.status, parsed if isinstance(parsed, dict) else {})
