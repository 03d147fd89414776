"""Helpers shared by the glidein tests (imported by name; conftest modules are not)."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The glidein/ directory of this source tree.
GLIDEIN = Path(__file__).resolve().parents[2] / "glidein"


def attachment(record: Mapping[str, Any]) -> bytes:
    """The decoded content of a JSON log record's attached file."""
    data = base64.b64decode(record["file"]["data"])
    return gzip.decompress(data) if record["file"]["encoding"] == "gzip+base64" else data
