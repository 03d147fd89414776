"""Writing files that hold secrets: atomically, mode 0600 from the first byte."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: str | os.PathLike[str], content: bytes) -> None:
    """Write ``content`` to ``path`` atomically with mode 0600.

    The data goes to a temporary file in the same directory, created 0600, fsync'ed, then
    renamed over ``path``; a reader sees the old file or the new one, never a part, and the
    secret is never readable by others, not even briefly.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
