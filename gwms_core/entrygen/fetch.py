"""Read a catalogue from a file or an HTTPS URL (bearer token or client certificate).

This is the I/O edge of entry generation. Errors become
:class:`~gwms_core.entrygen.model.SourceError` with a message that names the
file or the URL without its query string or user info, and never the token.
Plain ``http://`` is refused: a token must not travel in clear.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from gwms_core.entrygen.model import SourceError

#: Largest catalogue document read, in bytes.
MAX_BYTES = 256 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment (safe to print)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _resolve(path: str | None, base_dir: Path) -> Path | None:
    if not path:
        return None
    p = Path(path)
    return p if p.is_absolute() else base_dir / p


def read_token(path: Path) -> str:
    """The bearer token in ``path`` (first non-empty, non-comment line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read token file {path}: {exc.strerror}") from None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    raise SourceError(f"token file {path} holds no token")


def read_url(url: str, *, token_file: Path | None = None, cert_file: Path | None = None,
             key_file: Path | None = None, ca_file: Path | None = None,
             timeout: float = DEFAULT_TIMEOUT_S) -> bytes:
    """GET ``url`` over HTTPS; SourceError on any failure (status, TLS, network)."""
    shown = safe_url(url)
    if urllib.parse.urlsplit(url).scheme != "https":
        raise SourceError(f"{shown}: only https:// URLs are allowed")
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if cert_file:
            context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"{shown}: cannot load TLS files: {exc.__class__.__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    headers = {"Accept": "application/json", "User-Agent": "gwms-entrygen"}
    if token_file:
        headers["Authorization"] = "Bearer " + read_token(token_file)
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            data: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        hint = " (check the token or certificate)" if exc.code in (401, 403) else ""
        raise SourceError(f"{shown}: HTTP {exc.code} {exc.reason}{hint}") from None
    except urllib.error.URLError as exc:
        raise SourceError(f"{shown}: cannot reach: {exc.reason}") from None
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"{shown}: {exc.__class__.__name__}: {exc}") from None
    if len(data) > MAX_BYTES:
        raise SourceError(f"{shown}: larger than {MAX_BYTES} bytes")
    return data


def read_document(options: dict[str, Any], base_dir: Path) -> tuple[bytes, str]:
    """The raw catalogue named by ``options`` (``path`` or ``url`` + auth), and its label."""
    if options.get("url"):
        url = str(options["url"])
        data = read_url(url, token_file=_resolve(options.get("token_file"), base_dir),
                        cert_file=_resolve(options.get("cert_file"), base_dir),
                        key_file=_resolve(options.get("key_file"), base_dir),
                        ca_file=_resolve(options.get("ca_file"), base_dir),
                        timeout=float(options.get("timeout_s", DEFAULT_TIMEOUT_S)))
        return data, safe_url(url)
    path = _resolve(options.get("path"), base_dir)
    if path is None:
        raise SourceError("neither 'path' nor 'url' is set")
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from None


def parse_json(data: bytes, label: str) -> Any:
    """Decode a JSON document; SourceError with the line and column of a syntax error."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SourceError(f"{label}: not UTF-8 text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"{label}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") \
            from None
