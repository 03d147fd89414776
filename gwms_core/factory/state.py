"""The factory's small local state, written atomically and rebuilt when lost.

The schedd queue is the truth about glideins; this file only remembers

* ``pending``: submission ids written *before* their ``submit`` call, so that after a
  crash the factory can tell which batches reached the queue (the schedd commits a
  transaction whole or not at all);
* counters for metrics (glideins submitted/removed/released since the file was made);
* ``request_seen``: when each (entry, frontend identity, client, credential id) last had
  an accepted request, for the orphan grace period
  (:func:`gwms_core.factory.decide.orphaned_clients`). Lost, it restarts every grace
  period from the time the factory notices the missing request: later removal, never
  earlier.

Writes go to a temporary file in the same directory, are ``fsync``-ed, renamed over the
old file, and the directory is ``fsync``-ed. A missing, truncated or garbage file is
replaced by an empty state (reported by :attr:`State.rebuilt`); nothing in it is needed
for correctness.

Compatibility: ``request_seen`` items are written ``[entry, identity, client, credential,
time]``; items of a file written before credential ids, ``[entry, identity, client,
time]``, are read with the default credential id
(:data:`gwms_core.factory.attrs.DEFAULT_CREDENTIAL`), the id untagged glideins get.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gwms_core import fileio
from gwms_core.factory.attrs import DEFAULT_CREDENTIAL

VERSION = 1


@dataclass(slots=True)
class Pending:
    """A submission recorded before its ``submit`` call."""

    entry: str
    client: str
    count: int
    started: float


@dataclass(slots=True)
class State:
    """What :func:`load` read, or a fresh state."""

    pending: dict[str, Pending] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    #: (entry, frontend identity, client, credential id) -> last time it had an accepted
    #: request.
    request_seen: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    #: Why the state was rebuilt ("" when it was read as written).
    rebuilt: str = ""

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {
            "version": VERSION,
            "pending": {sid: {"entry": p.entry, "client": p.client, "count": p.count,
                              "started": p.started} for sid, p in self.pending.items()},
            "counters": dict(self.counters),
            "request_seen": [[e, f, c, k, t]
                             for (e, f, c, k), t in sorted(self.request_seen.items())],
        }

    def bump(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a counter."""
        self.counters[name] = self.counters.get(name, 0) + n


def new_submission_id() -> str:
    """A unique id for one submission batch (tagged on every job as ``GwmsSubmissionId``)."""
    return f"{int(time.time())}-{uuid.uuid4().hex[:16]}"


def _parse(raw: Any) -> State:
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError("unknown state version")
    pending = {}
    for sid, p in dict(raw.get("pending", {})).items():
        pending[str(sid)] = Pending(str(p["entry"]), str(p["client"]), int(p["count"]),
                                    float(p["started"]))
    counters = {str(k): int(v) for k, v in dict(raw.get("counters", {})).items()}
    seen: dict[tuple[str, str, str, str], int] = {}
    for item in raw.get("request_seen", []):
        if len(item) == 4:  # written before credential ids
            e, f, c, t = item
            k = DEFAULT_CREDENTIAL
        else:
            e, f, c, k, t = item
        seen[(str(e), str(f), str(c), str(k))] = int(t)
    return State(pending, counters, seen)


def load(path: Path) -> State:
    """Read the state file; an empty state (with ``rebuilt`` set) if missing or corrupt."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return State(rebuilt="missing")
    try:
        return _parse(json.loads(data.decode("utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        return State(rebuilt=f"corrupt ({type(exc).__name__})")


def save(path: Path, state: State) -> None:
    """Write the state atomically (temporary file, fsync, rename, fsync of the directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(state.to_json(), sort_keys=True).encode("utf-8")
    fileio.write_private(path, data)  # temporary file (mode 0600), fsync, rename
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def clean_temporaries(path: Path) -> int:
    """Remove temporary files a crash left next to the state file; return how many."""
    n = 0
    for tmp in Path(path).parent.glob(f".{Path(path).name}.*.tmp"):
        tmp.unlink(missing_ok=True)
        n += 1
    return n


def write_private(path: Path, data: bytes) -> bool:
    """Write a secret file atomically, mode 0600 in a 0700 directory; False if unchanged."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    fileio.write_private(path, data)
    return True


class AlreadyRunning(RuntimeError):
    """Another factory process holds the work directory's lock."""


def lock(work_dir: Path) -> int:
    """Take ``<work_dir>/factory.lock`` (``flock``, exclusive, non-blocking); return the fd.

    Two factory processes with one work directory would both count the queue and both
    submit. The kernel drops the lock when the process dies, even by SIGKILL.
    """
    import fcntl

    Path(work_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(work_dir) / "factory.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(f"another factory process uses {work_dir} "
                             "(factory.lock is held)") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
