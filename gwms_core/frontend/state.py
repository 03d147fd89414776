"""The frontend's only local state: the removal history, kept across restarts.

The removal level of an entry depends on how many cycles demand has been absent
(:class:`~gwms_core.frontend.model.EntryHistory`). Without this file a restart would set
every counter back to zero, and a frontend restarted often (a reconfiguration, a crash
loop) would never ask for a removal. The file is small JSON, written atomically with
:func:`gwms_core.fileio.write_private` after every cycle, and read once at start:

.. code-block:: json

    {"version": 1, "saved": 1700000000.0,
     "groups": {"main": {"E1@gw@fac": [no_idle_jobs, all_glideins_idle, no_glideins]}}}

A missing file is a first start; an unreadable or malformed one is reported and ignored
(the counters start from zero, which only delays a removal, never causes one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from gwms_core.fileio import write_private
from gwms_core.frontend.model import EntryHistory

#: Format version written in the file.
STATE_VERSION = 1

#: Removal history of every group: group name -> entry name -> history.
History = dict[str, dict[str, EntryHistory]]


def dump_history(history: Mapping[str, Mapping[str, EntryHistory]], saved: float) -> bytes:
    """The state file's content for ``history`` (pure)."""
    groups = {
        group: {entry: [h.no_idle_jobs, h.all_glideins_idle, h.no_glideins]
                for entry, h in sorted(entries.items())}
        for group, entries in sorted(history.items())
    }
    doc = {"version": STATE_VERSION, "saved": saved, "groups": groups}
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _counter(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"a history counter must be a non-negative integer, not {value!r}")
    return value


def parse_history(data: bytes) -> History:
    """Read the state file's content (pure).

    :raises ValueError: the content is not a state file of :data:`STATE_VERSION`.
    """
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise ValueError(f"not a version {STATE_VERSION} frontend state")
    groups = doc.get("groups")
    if not isinstance(groups, dict):
        raise ValueError("'groups' must be an object")
    out: History = {}
    for group, entries in groups.items():
        if not isinstance(entries, dict):
            raise ValueError(f"group {group!r}: must be an object")
        out[str(group)] = {}
        for entry, counters in entries.items():
            if not isinstance(counters, list) or len(counters) != 3:
                raise ValueError(f"group {group!r} entry {entry!r}: three counters expected")
            a, b, c = (_counter(v) for v in counters)
            out[str(group)][str(entry)] = EntryHistory(a, b, c)
    return out


def load_history(path: str | os.PathLike[str]) -> tuple[History, str | None]:
    """The history saved at ``path``, and a problem to report (or None).

    A missing file gives an empty history and no problem.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"state file {os.fspath(path)}: {exc.strerror}; removal history reset"
    try:
        return parse_history(data), None
    except ValueError as exc:
        return {}, f"state file {os.fspath(path)}: {exc}; removal history reset"


def save_history(path: str | os.PathLike[str],
                 history: Mapping[str, Mapping[str, EntryHistory]], saved: float) -> None:
    """Write the history atomically (mode 0600).

    :raises OSError: the file cannot be written.
    """
    write_private(path, dump_history(history, saved))


__all__ = ["STATE_VERSION", "History", "dump_history", "load_history", "parse_history",
           "save_history"]
