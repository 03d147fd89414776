"""Stable entry names.

An entry name is what the factory, the frontend and the glidein's ClassAds use
to tell entries apart, so it must not change when unrelated catalogue data
changes. A derived name depends only on identity fields (site, gatekeeper
host, queue), never on the order of the catalogue or on sizes.
"""

from __future__ import annotations

import hashlib
import re

#: Same rule as entry-file keys (``gwms_core.config.schema``).
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")
MAX_LEN = 128
_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def is_valid_name(name: str) -> bool:
    """True when ``name`` may be used as an entry name."""
    return bool(NAME_RE.match(name))


def sanitize(part: str) -> str:
    """``part`` with every run of characters not allowed in names replaced by ``_``."""
    return _BAD.sub("_", part.strip()).strip("_.-")


def host_label(gatekeeper: str) -> str:
    """The first DNS label of a gatekeeper's host (``ce01`` for ``ce01.x.org:9619``).

    Accepts every gatekeeper form the backends use: ``host[:port]``,
    ``schedd collector``, ``user@host``, ``https://host:port/path``.
    """
    text = gatekeeper.strip()
    if "://" in text:
        text = text.split("://", 1)[1].split("/", 1)[0]
    text = text.split()[0] if text else ""
    text = text.rpartition("@")[2]
    host = text.split(":", 1)[0]
    return host.split(".", 1)[0]


def derived_name(*parts: str) -> str:
    """Join sanitised non-empty ``parts`` with ``_`` into a valid, stable entry name.

    A name that would not start with a letter gets an ``E_`` prefix; one longer
    than 128 characters is cut and ends with 8 hex digits of its SHA-256, so two
    long names stay distinct and each stays the same on every run.
    """
    clean = [p for p in (sanitize(x) for x in parts) if p]
    name = "_".join(clean) or "E"
    if not name[0].isalpha():
        name = "E_" + name
    if len(name) > MAX_LEN:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = name[: MAX_LEN - 9].rstrip("_.-") + "_" + digest
    return name
