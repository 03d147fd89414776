"""Find secrets where they must never be: logs, exception messages, ClassAds, reprs.

:func:`find_leaks` looks for each secret in the forms it could be written in (as is,
base64, base64url, hex, and for a JWT its signature alone: header and payload are
readable by design, the signature is what makes the token usable). Findings name the
text and the form, never the secret. :func:`assert_no_secret` is the test helper.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Fragments shorter than this are not searched (they match by chance).
MIN_FRAGMENT = 12


@dataclass(frozen=True, slots=True)
class Leak:
    """A secret found in a text: which text, which secret (by index), in which form."""

    source: str
    secret_index: int
    form: str

    def __str__(self) -> str:
        return f"secret #{self.secret_index} found in {self.source} ({self.form})"


def _as_bytes(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def secret_forms(secret: str | bytes) -> dict[str, str]:
    """The textual forms ``secret`` could appear in, keyed by a name for the form."""
    raw = _as_bytes(secret)
    forms: dict[str, str] = {}
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""
    if text:
        forms["as is"] = text
        parts = text.split(".")
        if len(parts) == 3 and len(parts[2]) >= MIN_FRAGMENT:
            forms["JWT signature"] = parts[2]
        body = [ln.strip() for ln in text.splitlines()
                if ln.strip() and not ln.strip().startswith("-----")]
        if len(body) > 1:
            # PEM bodies are wrapped: any one body line leaks key material. The first
            # line is skipped: it encodes the structure's header, alike for every key
            # of a type and size.
            for n, line in enumerate(body[1:], start=2):
                if len(line) >= 48:
                    forms[f"PEM line {n}"] = line
    forms["base64"] = base64.b64encode(raw).decode("ascii").rstrip("=")
    forms["base64url"] = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    forms["hex"] = raw.hex()
    return {k: v for k, v in forms.items() if len(v) >= MIN_FRAGMENT}


def find_leaks(texts: Mapping[str, str] | Iterable[str],
               secrets: Iterable[str | bytes]) -> list[Leak]:
    """Every (text, secret, form) where a form of a secret occurs in a text.

    ``texts`` is a mapping ``{source name: text}`` or a plain iterable (sources are
    then numbered). Hex forms are matched case-insensitively.
    """
    named = dict(texts) if isinstance(texts, Mapping) else {
        f"text #{i}": t for i, t in enumerate(texts)}
    leaks: list[Leak] = []
    for index, secret in enumerate(secrets):
        for form, value in secret_forms(secret).items():
            for source, text in named.items():
                hay = text.lower() if form == "hex" else text
                if value in hay:
                    leaks.append(Leak(source, index, form))
    return leaks


def assert_no_secret(texts: Mapping[str, str] | Iterable[str],
                     secrets: Iterable[str | bytes]) -> None:
    """Raise ``AssertionError`` naming where a secret leaked (never the secret itself)."""
    leaks = find_leaks(texts, secrets)
    if leaks:
        raise AssertionError("secret leaked: " + "; ".join(str(x) for x in leaks))


__all__ = ["MIN_FRAGMENT", "Leak", "assert_no_secret", "find_leaks", "secret_forms"]
