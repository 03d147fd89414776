"""The log server: HTTPS uploads from glideins, REST API and web pages for people.

Standard library only (:class:`http.server.ThreadingHTTPServer` wrapped in TLS by
:mod:`ssl`). Routes (see docs/logserver.md and docs/logserver-openapi.yaml):

* ``PUT|POST /logs/{entry}/{glidein}/{name}`` with ``Authorization: Bearer <token>``:
  store (PUT replaces, POST appends) a JSON-lines log; the token must grant exactly
  ``logs:write:{entry}/{glidein}``.
* ``GET /api/v1/...``: glideins, one glidein, its records, search, files (login).
* ``GET /``, ``/glidein/{entry}/{glidein}``, ``/download/...``: HTML pages (login).
* ``GET|POST /login``, ``POST /logout``; ``GET /metrics``; ``GET /healthz``.

Every refused upload is answered before anything is written; a stored upload is on
disk (fsync'ed) and indexed before the 2xx answer leaves.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import http.server
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gwms_core import metrics as m
from gwms_core.logserver import web
from gwms_core.logserver.blobs import BlobStore
from gwms_core.logserver.extract import STATUSES, extract
from gwms_core.logserver.index import GlideinQuery, LogIndex, open_index
from gwms_core.logserver.records import UploadError, parse_upload, read_stored, resume_chunk
from gwms_core.logserver.retention import RetentionPolicy, select_victims
from gwms_core.logserver.sanitize import Sanitizer
from gwms_core.logserver.tokens import NAME_RE, KeyRing, TokenError, TokenFailure, verify
from gwms_core.logserver.users import LoginThrottle, Session, Sessions, User, authenticate

log = logging.getLogger("gwms.logserver")

#: Default largest upload body (bytes).
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
#: Default largest size attached files of one upload may inflate to (bytes).
MAX_INFLATED_BYTES = 64 * 1024 * 1024
#: A refused upload's unread body up to this size is read and dropped (keep-alive, and a
#: clean answer to a client still sending); beyond it the connection is closed.
DRAIN_BYTES = 1024 * 1024
#: Largest total size of one glidein's stored files (bytes); appends beyond are 413.
MAX_GLIDEIN_BYTES = 256 * 1024 * 1024
COOKIE = "gwms_session"
#: Every ``reason`` a refused upload can carry (documented in the OpenAPI file).
REFUSAL_REASONS = ("no_token", "malformed", "foreign", "expired", "wrong_scope", "bad_name",
                   "too_large", "bad_json", "invalid_record", "length_required",
                   "bad_offset")
_REFUSAL_REASON = {
    TokenFailure.MALFORMED: "malformed", TokenFailure.FOREIGN: "foreign",
    TokenFailure.EXPIRED: "expired", TokenFailure.NOT_YET_VALID: "expired",
    TokenFailure.WRONG_SCOPE: "wrong_scope",
}
_SECURITY_HEADERS = (
    ("Content-Security-Policy",
     "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


@dataclass(frozen=True)
class ServerConfig:
    """Everything the log server needs; build it from CLI options or tests."""

    data_dir: Path
    keyring: KeyRing
    users: Mapping[str, User]
    host: str = "127.0.0.1"
    port: int = 8443
    certfile: Path | None = None
    keyfile: Path | None = None
    #: Plain HTTP is refused unless this is set (tests of the CLI, local debugging).
    insecure_http: bool = False
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_inflated_bytes: int = MAX_INFLATED_BYTES
    max_glidein_bytes: int = MAX_GLIDEIN_BYTES
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    retention_interval: float = 3600.0
    redact_patterns: tuple[str, ...] = ()
    #: ``sqlite:PATH`` (default ``<data_dir>/index.sqlite``) or a PostgreSQL URL.
    index_url: str | None = None
    #: Serve /metrics without login (for a Prometheus on a trusted network).
    public_metrics: bool = False
    #: Seconds a client may take to send a request.
    socket_timeout: float = 60.0
    #: Connections served at once; more are closed at once (no thread per flood).
    max_connections: int = 256


class _Refusal(Exception):
    def __init__(self, status: int, reason: str, message: str,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers


def _split_path(path: str) -> list[str]:
    return [unquote(p) for p in path.split("/")[1:]]


def _names(parts: list[str]) -> bool:
    return all(NAME_RE.match(p) for p in parts)


def _parse_time_param(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _Refusal(400, "bad_param", f"not a time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


class LogServer:
    """The running service: state shared by request handler threads."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.blobs = BlobStore(config.data_dir / "logs")
        url = config.index_url or f"sqlite:{config.data_dir / 'index.sqlite'}"
        self.index: LogIndex = open_index(url)
        self.sanitizer = Sanitizer.with_patterns(config.redact_patterns)
        self.sessions = Sessions()
        self.throttle = LoginThrottle()
        self.metrics = m.MetricsRegistry()
        self._basic_cache: dict[str, tuple[User, float]] = {}
        self._basic_lock = threading.Lock()
        self._stop = threading.Event()
        self.uploads = self.metrics.counter(m.LOGSERVER_UPLOADS)
        self.refusals = self.metrics.counter(m.LOGSERVER_REFUSALS)
        self.upload_bytes = self.metrics.counter(m.LOGSERVER_UPLOAD_BYTES)
        self.redactions = self.metrics.counter(m.LOGSERVER_REDACTIONS)
        self.glidein_gauge = self.metrics.gauge(m.LOGSERVER_GLIDEINS)
        self.request_seconds = self.metrics.histogram(m.LOGSERVER_REQUEST_SECONDS)
        self.retention_deleted = self.metrics.counter(m.LOGSERVER_RETENTION_DELETED)
        self.httpd = _BoundedServer((config.host, config.port), _handler_class(self),
                                    config.max_connections)
        self.tls = config.certfile is not None
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(config.certfile),
                                str(config.keyfile) if config.keyfile else None)
            # the handshake runs in the handler thread (first read), not in the accept loop
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                                do_handshake_on_connect=False)
        elif not config.insecure_http:
            raise ValueError("a certificate is required (or insecure_http for local tests)")
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the service."""
        return f"{'https' if self.tls else 'http'}://{self.config.host}:{self.port}"

    def start(self) -> None:
        """Serve in background threads (HTTP and retention)."""
        t = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                             name="logserver-http", daemon=True)
        t.start()
        r = threading.Thread(target=self._retention_loop, name="logserver-retention",
                             daemon=True)
        r.start()
        self._threads = [t, r]

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (retention runs in a thread)."""
        r = threading.Thread(target=self._retention_loop, name="logserver-retention",
                             daemon=True)
        r.start()
        self._threads = [r]
        self.httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the index."""
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(timeout=10)
        self.index.close()

    # ---------------------------------------------------------------- retention

    def run_retention(self, now: float | None = None) -> int:
        """Delete what the retention policy selects; return how many glideins went."""
        t = time.time() if now is None else now
        victims = select_victims(self.index.usage(), self.config.retention, t)
        for v in victims:
            with self.blobs.lock(v.entry, v.glidein):
                self.index.delete(v.entry, v.glidein)
                self.blobs.delete(v.entry, v.glidein)
        if victims:
            self.retention_deleted.inc(len(victims))
            log.info("retention deleted the logs of %d glidein(s)", len(victims))
        return len(victims)

    def _retention_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_retention()
            except Exception:  # keep serving; the next round retries
                log.exception("retention failed")
            self._stop.wait(self.config.retention_interval)

    # ---------------------------------------------------------------- uploads

    def check_upload_auth(self, header: str | None, entry: str, glidein: str) -> None:
        """Raise :class:`_Refusal` unless the bearer token grants this glidein."""
        if not header:
            raise _Refusal(401, "no_token", "an upload needs 'Authorization: Bearer <token>'",
                           (("WWW-Authenticate", 'Bearer realm="gwms-logs"'),))
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refusal(401, "no_token", "authorization scheme must be Bearer",
                           (("WWW-Authenticate", 'Bearer realm="gwms-logs"'),))
        try:
            verify(self.config.keyring, token.strip(), entry, glidein)
        except TokenError as exc:
            status = 401 if exc.failure is TokenFailure.MALFORMED else 403
            hdrs: tuple[tuple[str, str], ...] = ()
            if status == 401:
                hdrs = (("WWW-Authenticate",
                         'Bearer realm="gwms-logs", error="invalid_token"'),)
            raise _Refusal(status, _REFUSAL_REASON[exc.failure],
                           f"token refused: {exc}", hdrs) from None

    def store_upload(self, entry: str, glidein: str, name: str, body: bytes,
                     append: bool, client_offset: int | None = None
                     ) -> tuple[int, dict[str, Any]]:
        """Parse, sanitise, store and index one authorised upload.

        With ``client_offset`` (header ``X-GWMS-Log-Offset`` of an append), a retried
        chunk is stored once: see :func:`~gwms_core.logserver.records.resume_chunk`.
        """
        now = time.time()
        with self.blobs.lock(entry, glidein):
            action = "append" if append else "replace"
            sent = len(body)
            if append and client_offset is not None:
                received = self.blobs.read_offset(entry, glidein, name)
                try:
                    action, body = resume_chunk(received, client_offset, body)
                except UploadError as exc:
                    raise _Refusal(exc.status, "bad_offset", exc.message) from None
                if action == "duplicate":
                    return 200, {"entry": entry, "glidein": glidein, "name": name,
                                 "records": 0, "duplicate": True}
            try:
                parsed = parse_upload(body, self.sanitizer,
                                      max_inflated=self.config.max_inflated_bytes)
            except UploadError as exc:
                reason = {400: "bad_json", 413: "too_large"}.get(exc.status,
                                                                 "invalid_record")
                raise _Refusal(exc.status, reason, exc.message) from None
            old = self.blobs.read(entry, glidein, name)
            data = (old + parsed.stored) if (append and old) else parsed.stored
            current = sum(f.nbytes for f in self.index.files(entry, glidein)
                          if f.name != name)
            if current + len(data) > self.config.max_glidein_bytes:
                raise _Refusal(413, "too_large", "this glidein's stored logs would exceed "
                               f"{self.config.max_glidein_bytes} bytes")
            self.blobs.write(entry, glidein, name, data)
            if client_offset is not None or not append:
                self.blobs.write_offset(entry, glidein, name,
                                        (client_offset or 0) + sent if append else sent)
            facts = self.index.put_file(extract(entry, glidein, parsed.records), name,
                                        parsed.records, len(data),
                                        append=append and old is not None, now=now)
            if action == "gap":
                log.warning("upload of %s/%s/%s: bytes missing before offset %d",
                            entry, glidein, name, client_offset)
        self.uploads.inc(result="stored")
        self.upload_bytes.inc(len(parsed.stored))
        if parsed.redactions:
            self.redactions.inc(parsed.redactions)
        status = 200 if old is not None else 201
        return status, {"entry": entry, "glidein": glidein, "name": name,
                        "records": len(parsed.records), "bytes": len(data),
                        "redactions": parsed.redactions, "status": facts.status,
                        **({"gap": True} if action == "gap" else {})}

    def refuse(self, reason: str) -> None:
        """Count a refused upload."""
        assert reason in REFUSAL_REASONS, reason
        self.uploads.inc(result="refused")
        self.refusals.inc(reason=reason)

    # ---------------------------------------------------------------- logins

    def basic_user(self, header: str, address: str = "") -> User | None:
        """The user of an ``Authorization: Basic`` header (verified hashes are cached;
        an address with too many failures is refused without a check)."""
        try:
            decoded = base64.b64decode(header.split(" ", 1)[1], validate=True).decode()
        except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
            return None
        name, _, password = decoded.partition(":")
        key = hashlib.sha256(decoded.encode()).hexdigest()
        now = time.time()
        with self._basic_lock:
            hit = self._basic_cache.get(key)
            if hit is not None and hit[1] > now and name in self.config.users:
                return hit[0]
        if not self.throttle.allowed(address, now):
            return None
        user = authenticate(self.config.users, name, password)
        if user is None:
            self.throttle.failed(address, now)
        else:
            self.throttle.succeeded(address)
            with self._basic_lock:
                if len(self._basic_cache) > 1000:
                    self._basic_cache.clear()
                self._basic_cache[key] = (user, now + 300)
        return user

    def refresh_gauges(self) -> None:
        """Glideins by status, for /metrics."""
        for status in STATUSES:
            _, n = self.index.glideins(GlideinQuery(status=status, limit=0))
            self.glidein_gauge.set(n, status=status)


_ROUTES = frozenset({"upload", "login", "api", "index", "glidein", "download", "static",
                     "metrics", "healthz"})


class _BoundedServer(http.server.ThreadingHTTPServer):
    """A thread per connection, at most ``max_threads`` at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int],
                 handler: type[http.server.BaseHTTPRequestHandler], max_threads: int) -> None:
        self._slots = threading.BoundedSemaphore(max_threads)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("connection limit reached: closing a connection from %s",
                        client_address[0])
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _handler_class(server: LogServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(_Handler):
        app = server
        timeout = server.config.socket_timeout

    return Handler


class _Handler(http.server.BaseHTTPRequestHandler):
    app: LogServer
    protocol_version = "HTTP/1.1"
    #: headers and body go out in separate writes: without TCP_NODELAY, Nagle's
    #: algorithm and the client's delayed ACK add 40 ms to every keep-alive answer
    disable_nagle_algorithm = True
    server_version = "gwms-logserver"
    sys_version = ""

    # ---------------------------------------------------------------- plumbing

    def log_message(self, format: str, *args: Any) -> None:
        """Access log line without query strings or headers (no secrets)."""
        log.info("%s %s", self.address_string(), format % args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Method and path only: query strings may carry search words."""
        path = urlsplit(self.path).path
        log.info("%s %s %s %s", self.address_string(), self.command, path, code)

    def _send(self, status: int, body: bytes, ctype: str,
              headers: tuple[tuple[str, str], ...] = (), close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in _SECURITY_HEADERS:
            self.send_header(k, v)
        if self.app.tls:
            self.send_header("Strict-Transport-Security", "max-age=31536000")
        for k, v in headers:
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: tuple[tuple[str, str], ...] = (),
              close: bool = False) -> None:
        self._send(status, (json.dumps(obj, indent=1) + "\n").encode(),
                   "application/json", headers, close)

    def _html(self, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._send(status, text.encode("utf-8"), "text/html; charset=utf-8", headers)

    def _redirect(self, location: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._send(303, b"", "text/plain", (("Location", location), *headers))

    def _timed(self, route: str, fn: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        try:
            fn()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True  # the client went away or stalled
        except Exception:
            log.exception("%s %s failed", self.command, urlsplit(self.path).path)
            try:
                self._json(500, {"error": "internal error"}, close=True)
            except OSError:
                self.close_connection = True
        finally:
            self.app.request_seconds.observe(time.perf_counter() - t0,
                                             route=route if route in _ROUTES else "other")

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise _Refusal(411, "length_required", "send Content-Length, not chunked")
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise _Refusal(411, "length_required", "Content-Length required")
        try:
            length = int(length_text)
        except ValueError:
            raise _Refusal(400, "bad_json", "Content-Length is not a number") from None
        if length < 0:
            raise _Refusal(400, "bad_json", "negative Content-Length")
        if length > limit:
            raise _Refusal(413, "too_large", f"body over {limit} bytes")
        data = self.rfile.read(length)
        if len(data) != length:
            raise _Refusal(400, "bad_json", "body shorter than Content-Length")
        return data

    def _session(self) -> Session | User | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            return self.app.basic_user(auth, self.client_address[0])
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == COOKIE and v:
                return self.app.sessions.get(v)
        return None

    # ---------------------------------------------------------------- verbs

    def do_PUT(self) -> None:
        """Upload (replace)."""
        self._timed("upload", lambda: self._upload(append=False))

    def do_POST(self) -> None:
        """Upload (append), login, logout."""
        path = urlsplit(self.path).path
        if path.startswith("/logs/"):
            self._timed("upload", lambda: self._upload(append=True))
        elif path == "/login":
            self._timed("login", self._login)
        elif path == "/logout":
            self._logout()
        else:
            self._json(404, {"error": "no such route"})

    def do_GET(self) -> None:
        """Pages, API, downloads, metrics."""
        path = urlsplit(self.path).path
        route = path.split("/")[1] if "/" in path else ""
        self._timed(route or "index", self._get)

    def do_HEAD(self) -> None:
        """As GET without a body."""
        self.do_GET()

    def do_DELETE(self) -> None:
        """Delete a glidein's logs (admin)."""
        self._timed("api", self._delete)

    # ---------------------------------------------------------------- uploads

    def _drain(self) -> bool:
        """Read and drop an unread request body of at most DRAIN_BYTES; False if not
        possible (then the connection must close: the body would be read as the next
        request, and a client still sending into a closed TLS socket sees a reset
        instead of our answer)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return False
        try:
            left = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            return False
        if left > DRAIN_BYTES:
            return False
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                return False
            left -= len(chunk)
        return True

    def _upload(self, append: bool) -> None:
        app = self.app
        parts = _split_path(urlsplit(self.path).path)
        body_read = False
        try:
            if len(parts) != 4 or parts[0] != "logs" or not _names(parts[1:]):
                raise _Refusal(400, "bad_name", "upload path must be "
                               "/logs/<entry>/<glidein>/<name> with plain names "
                               "([A-Za-z0-9][A-Za-z0-9._@+-]{0,127})")
            _, entry, glidein, name = parts
            app.check_upload_auth(self.headers.get("Authorization"), entry, glidein)
            offset_text = self.headers.get("X-GWMS-Log-Offset")
            offset = None
            if offset_text is not None:
                if not offset_text.strip().isdigit():
                    raise _Refusal(400, "bad_offset", "X-GWMS-Log-Offset must be a "
                                   "non-negative integer")
                offset = int(offset_text)
            body = self._read_body(app.config.max_upload_bytes)
            body_read = True
            status, result = app.store_upload(entry, glidein, name, body, append, offset)
        except _Refusal as exc:
            app.refuse(exc.reason)
            close = not body_read and not self._drain()
            self._json(exc.status, {"error": exc.message, "reason": exc.reason},
                       exc.headers, close=close)
            return
        self._json(status, result)

    # ---------------------------------------------------------------- logins

    def _form(self) -> dict[str, str]:
        body = self._read_body(64 * 1024)
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}

    def _login(self) -> None:
        try:
            form = self._form()
        except _Refusal as exc:
            self._json(exc.status, {"error": exc.message}, close=True)
            return
        nxt = form.get("next", "/")
        if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
            nxt = "/"  # only paths on this server: no open redirect
        address = self.client_address[0]
        if not self.app.throttle.allowed(address):
            log.warning("login refused: too many failures from %s", address)
            self._html(429, web.login_page(nxt, "Too many failed logins; try later."),
                       (("Retry-After", str(int(self.app.throttle.window))),))
            return
        user = authenticate(self.app.config.users, form.get("username", ""),
                            form.get("password", ""))
        if user is None:
            self.app.throttle.failed(address)
            log.warning("failed login from %s", address)
            self._html(401, web.login_page(nxt, "Wrong user name or password."))
            return
        self.app.throttle.succeeded(address)
        cookie = self.app.sessions.create(user)
        attrs = "; HttpOnly; SameSite=Strict; Path=/" + ("; Secure" if self.app.tls else "")
        self._redirect(nxt, (("Set-Cookie", f"{COOKIE}={cookie}{attrs}"),))

    def _logout(self) -> None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == COOKIE and v:
                self.app.sessions.drop(v)
        if self.headers.get("Content-Length"):
            self.rfile.read(min(int(self.headers["Content-Length"]), 64 * 1024))
        self._redirect("/login", (("Set-Cookie", f"{COOKIE}=; Max-Age=0; Path=/"),))

    # ---------------------------------------------------------------- reads

    def _query(self, params: Mapping[str, str]) -> GlideinQuery:
        status = params.get("status") or None
        if status is not None and status not in STATUSES:
            raise _Refusal(400, "bad_param", f"status must be one of {', '.join(STATUSES)}")
        try:
            limit = min(max(int(params.get("limit", "50")), 0), 1000)
            offset = max(int(params.get("offset", "0")), 0)
        except ValueError:
            raise _Refusal(400, "bad_param", "limit and offset are integers") from None
        return GlideinQuery(entry=params.get("entry") or None,
                            frontend=params.get("frontend") or None, status=status,
                            since=_parse_time_param(params.get("since")),
                            until=_parse_time_param(params.get("until")),
                            text=params.get("q") or None, limit=limit, offset=offset)

    def _get(self) -> None:
        split = urlsplit(self.path)
        path = split.path
        params = {k: v[0] for k, v in parse_qs(split.query).items()}
        if path == "/healthz":
            self._json(200, {"ok": True})
            return
        if path.startswith("/static/"):
            self._static(path)
            return
        if path == "/login":
            self._html(200, web.login_page(params.get("next", "/")))
            return
        who = self._session()
        is_api = path.startswith("/api/")
        if path == "/metrics":
            if who is None and not self.app.config.public_metrics:
                self._json(401, {"error": "login required"},
                           (("WWW-Authenticate", 'Basic realm="gwms-logserver"'),))
                return
            self.app.refresh_gauges()
            self._send(200, self.app.metrics.render().encode(), m.CONTENT_TYPE)
            return
        if who is None:
            if is_api or path.startswith("/download/"):
                self._json(401, {"error": "login required"},
                           (("WWW-Authenticate", 'Basic realm="gwms-logserver"'),))
            else:
                from urllib.parse import quote
                self._redirect("/login?next=" + quote(self.path, safe=""))
            return
        user = who.user if isinstance(who, Session) else who.name
        try:
            if is_api:
                self._api(path, params)
            elif path == "/":
                self._index_page(user, params)
            elif path.startswith("/glidein/"):
                self._glidein_page(user, path)
            elif path.startswith("/download/"):
                self._download(path, params)
            else:
                self._html(404, web.error_page(404, "no such page", user))
        except _Refusal as exc:
            if is_api:
                self._json(exc.status, {"error": exc.message})
            else:
                self._html(exc.status, web.error_page(exc.status, exc.message, user))

    def _static(self, path: str) -> None:
        if path == "/static/style.css":
            self._send(200, web.STYLE.encode(), "text/css; charset=utf-8")
        elif path == "/static/app.js":
            self._send(200, web.SCRIPT.encode(), "text/javascript; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _two_names(self, path: str, prefix: str) -> tuple[str, str]:
        parts = _split_path(path)[len(prefix.strip("/").split("/")):]
        if len(parts) != 2 or not _names(parts):
            raise _Refusal(404, "bad_name", "no such glidein")
        return parts[0], parts[1]

    def _index_page(self, user: str, params: Mapping[str, str]) -> None:
        q = self._query(params)
        rows, total = self.app.index.glideins(q)
        hits = (self.app.index.search(q.text, GlideinQuery(
            entry=q.entry, frontend=q.frontend, status=q.status, since=q.since,
            until=q.until, limit=50)) if q.text else [])
        entries, frontends = self.app.index.facets()
        self._html(200, web.list_page(user, params, rows, total, hits, entries, frontends))

    def _glidein_page(self, user: str, path: str) -> None:
        entry, glidein = self._two_names(path, "/glidein/")
        row = self.app.index.glidein(entry, glidein)
        if row is None:
            raise _Refusal(404, "not_found", "no such glidein")
        self._html(200, web.glidein_page(user, row, self.app.index.files(entry, glidein),
                                         self.app.index.lines(entry, glidein)))

    def _download(self, path: str, params: Mapping[str, str]) -> None:
        parts = _split_path(path)[1:]
        if len(parts) != 3 or not _names(parts):
            raise _Refusal(404, "bad_name", "no such file")
        entry, glidein, name = parts
        data = self.app.blobs.read(entry, glidein, name)
        if data is None:
            raise _Refusal(404, "not_found", "no such file")
        attachment = params.get("attachment")
        if attachment is not None:
            try:
                seq = int(params.get("seq", "-1"))
            except ValueError:
                raise _Refusal(400, "bad_param", "seq is an integer") from None
            records = read_stored(data)
            if not 0 <= seq < len(records) or records[seq].file is None or \
                    records[seq].file.name != attachment:  # type: ignore[union-attr]
                raise _Refusal(404, "not_found", "no such attached file")
            body = records[seq].file.data  # type: ignore[union-attr]
            fname = attachment
            ctype = "text/plain; charset=utf-8"
        else:
            body, fname, ctype = data, name, "application/x-ndjson"
        self._send(200, body, ctype,
                   (("Content-Disposition", f'attachment; filename="{fname}"'),))

    # ---------------------------------------------------------------- API

    def _api(self, path: str, params: Mapping[str, str]) -> None:
        index = self.app.index
        parts = _split_path(path)
        if parts[:2] != ["api", "v1"]:
            raise _Refusal(404, "not_found", "no such route")
        rest = parts[2:]
        if rest == ["glideins"]:
            q = self._query(params)
            rows, total = index.glideins(q)
            self._json(200, {"total": total, "offset": q.offset,
                             "glideins": [r.as_json() for r in rows]})
        elif rest == ["search"]:
            text = params.get("q", "")
            if not text:
                raise _Refusal(400, "bad_param", "q is required")
            q = self._query({k: v for k, v in params.items() if k != "q"})
            hits = index.search(text, q)
            self._json(200, {"hits": [h.__dict__ for h in hits]})
        elif len(rest) in (3, 4) and rest[0] == "glideins" and _names(rest[1:3]):
            entry, glidein = rest[1], rest[2]
            row = index.glidein(entry, glidein)
            if row is None:
                raise _Refusal(404, "not_found", "no such glidein")
            if len(rest) == 3:
                out = row.as_json()
                out["files"] = [f.__dict__ for f in index.files(entry, glidein)]
                self._json(200, out)
            elif rest[3] == "records":
                lines = index.lines(entry, glidein, script=params.get("script") or None)
                self._json(200, {"records": [ln.__dict__ for ln in lines]})
            else:
                raise _Refusal(404, "not_found", "no such route")
        elif len(rest) == 4 and rest[0] == "files" and _names(rest[1:]):
            self._download("/download/" + "/".join(rest[1:]), params)
        else:
            raise _Refusal(404, "not_found", "no such route")

    def _delete(self) -> None:
        path = urlsplit(self.path).path
        who = self._session()
        if who is None:
            self._json(401, {"error": "login required"},
                       (("WWW-Authenticate", 'Basic realm="gwms-logserver"'),))
            return
        if who.role != "admin":
            self._json(403, {"error": "the viewer role is read-only"})
            return
        parts = _split_path(path)
        if len(parts) != 5 or parts[:3] != ["api", "v1", "glideins"] or not _names(parts[3:]):
            self._json(404, {"error": "no such route"})
            return
        entry, glidein = parts[3], parts[4]
        with self.app.blobs.lock(entry, glidein):
            found = self.app.index.delete(entry, glidein)
            self.app.blobs.delete(entry, glidein)
        self._json(200 if found else 404, {"deleted": found})


def run(config: ServerConfig) -> None:
    """Run the log server in the foreground until SIGTERM or SIGINT, then stop cleanly
    (the accept loop ends, the index is closed)."""
    import signal

    server = LogServer(config)

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        # shutdown() waits for serve_forever(), which runs in this (the main) thread
        threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("log server listening on %s", server.url)
    try:
        server.serve_forever()
    finally:
        server.stop()
        log.info("log server stopped")


__all__ = ["LogServer", "ServerConfig", "run"]
