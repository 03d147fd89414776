"""Remove secrets from text before the log server stores or indexes it.

Built-in patterns replace bearer tokens (``Authorization: Bearer ...``), anything
that looks like a JWT (three base64url parts, the first two starting ``eyJ``), PEM
blocks (``-----BEGIN ...-----`` to ``-----END ...-----``, private keys and
certificates alike) and ``password=``/``secret=``/``token=`` assignments. Operators
add their own regular expressions. A match becomes ``[REDACTED:<kind>]``; when a
pattern has a group named ``s`` only that group is replaced (``password=[REDACTED:...]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: (kind, pattern) applied in this order; PEM first so a key inside is one match.
BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = (
    ("pem", r"-----BEGIN [A-Z0-9 ]{1,64}-----.*?(?:-----END [A-Z0-9 ]{1,64}-----|\Z)"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    ("bearer", r"(?i)\bbearer[ \t]+(?P<s>[A-Za-z0-9._~+/=-]{8,})"),
    ("assignment",
     r"(?i)(?:password|passwd|secret|token)[ \t]*[=:][ \t]*(?P<s>[^\s\"',;&]{4,})"),
)


@dataclass(frozen=True)
class Sanitizer:
    """Replaces secrets in text; built-in patterns plus ``extra`` regular expressions."""

    extra: tuple[str, ...] = ()
    _compiled: tuple[tuple[str, re.Pattern[str]], ...] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = [(kind, re.compile(p, re.DOTALL)) for kind, p in BUILTIN_PATTERNS]
        for i, pattern in enumerate(self.extra):
            try:
                compiled.append(("pattern", re.compile(pattern)))
            except re.error as exc:
                raise ValueError(f"redaction pattern #{i + 1} is not a valid regular "
                                 f"expression: {exc}") from exc
        object.__setattr__(self, "_compiled", tuple(compiled))

    @classmethod
    def with_patterns(cls, patterns: Iterable[str]) -> Sanitizer:
        """A sanitiser with the built-ins and ``patterns``."""
        return cls(tuple(patterns))

    def clean(self, text: str) -> tuple[str, int]:
        """Return ``text`` with secrets replaced, and how many were replaced."""
        total = 0
        for kind, regex in self._compiled:
            mark = f"[REDACTED:{kind}]"

            def _sub(m: re.Match[str], mark: str = mark) -> str:
                if "s" in m.re.groupindex and m.group("s") is not None:
                    start, end = m.span("s")
                    whole = m.group(0)
                    return whole[: start - m.start()] + mark + whole[end - m.start():]
                return mark

            text, n = regex.subn(_sub, text)
            total += n
        return text, total

    def clean_bytes(self, data: bytes) -> tuple[bytes, int]:
        """Clean an attached file: as UTF-8 when it decodes, else byte for byte (latin-1)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            cleaned, n = self.clean(data.decode("latin-1"))
            return cleaned.encode("latin-1"), n
        cleaned, n = self.clean(text)
        return cleaned.encode("utf-8"), n
