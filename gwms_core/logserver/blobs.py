"""Durable files on disk: ``<root>/<entry>/<glidein>/<name>``.

Every write goes to a temporary file in the target directory, is fsync'ed, renamed
over the target and the directory is fsync'ed: a crash leaves the old or the new
content, never a mix. Names are plain names (:data:`gwms_core.logserver.tokens.NAME_RE`)
checked again here, so no path leaves the glidein's own directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from gwms_core.logserver.tokens import NAME_RE


class BlobStore:
    """The uploaded (sanitised) files of every glidein."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o750)
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, entry: str, glidein: str) -> threading.Lock:
        """The lock serialising writes to one glidein's directory."""
        with self._guard:
            return self._locks.setdefault((entry, glidein), threading.Lock())

    def path(self, entry: str, glidein: str, name: str | None = None) -> Path:
        """Where a glidein's directory (or one of its files) lives."""
        parts = [entry, glidein] + ([name] if name is not None else [])
        for part in parts:
            if not NAME_RE.match(part):
                raise ValueError("not a plain name")
        return self.root.joinpath(*parts)

    def write(self, entry: str, glidein: str, name: str, data: bytes) -> None:
        """Atomically replace (or create) one file."""
        target = self.path(entry, glidein, name)
        self.write_raw(target.parent, name, data)

    def write_raw(self, directory: Path, name: str, data: bytes) -> None:
        """Atomically write ``directory/name`` (tmp + fsync + rename + fsync dir)."""
        target = directory / name
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        tmp = directory / f".{name}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        _fsync_dir(directory)
        if created:
            _fsync_dir(directory.parent)
            _fsync_dir(self.root)

    def read_offset(self, entry: str, glidein: str, name: str) -> int:
        """Bytes of the client's local log received for ``name`` (0 if none recorded)."""
        path = self.path(entry, glidein) / f".{name}.offset"
        try:
            return int(path.read_text(encoding="ascii").strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def write_offset(self, entry: str, glidein: str, name: str, offset: int) -> None:
        """Record (atomically) how many bytes of the client's log were received."""
        self.write_raw(self.path(entry, glidein), f".{name}.offset", f"{offset}\n".encode())

    def read(self, entry: str, glidein: str, name: str) -> bytes | None:
        """A stored file's bytes, or None."""
        try:
            return self.path(entry, glidein, name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, entry: str, glidein: str) -> None:
        """Remove a glidein's directory and everything in it."""
        shutil.rmtree(self.path(entry, glidein), ignore_errors=True)
        parent = self.root / entry
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty

    def iter_files(self) -> Iterator[tuple[str, str, str, Path]]:
        """Every stored file as (entry, glidein, name, path); temporary files skipped."""
        for entry_dir in sorted(self.root.iterdir()):
            if not entry_dir.is_dir() or not NAME_RE.match(entry_dir.name):
                continue
            for glidein_dir in sorted(entry_dir.iterdir()):
                if not glidein_dir.is_dir() or not NAME_RE.match(glidein_dir.name):
                    continue
                for f in sorted(glidein_dir.iterdir()):
                    if f.is_file() and NAME_RE.match(f.name):
                        yield entry_dir.name, glidein_dir.name, f.name, f

    def count_files(self) -> int:
        """How many files are stored (used by tests and ``gwms logserver stats``)."""
        return sum(1 for p in self.root.rglob("*") if p.is_file())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
