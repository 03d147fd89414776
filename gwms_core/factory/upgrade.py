"""``gwms factory upgrade-check``: what to fix before running a single-user factory.

A single-user factory runs as one account that owns its work directory, its staging
area and every glidein job. The checks are pure functions over what the caller read
(``os.stat`` results, queue ads); each finding says what is wrong and how to fix it.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gwms_core.factory import attrs as A


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to fix (``severity`` ``error``) or to know (``warning``)."""

    severity: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.what}; fix: {self.fix}"


@dataclass(frozen=True, slots=True)
class PathInfo:
    """What the check needs to know about one path (None fields: the path is missing)."""

    path: Path
    role: str
    uid: int | None = None
    mode: int | None = None
    is_dir: bool = True


def stat_path(path: Path, role: str) -> PathInfo:
    """Read a path's owner and mode (``PathInfo`` with None fields when missing)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return PathInfo(path, role)
    return PathInfo(path, role, st.st_uid, stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode))


def check_paths(paths: Iterable[PathInfo], uid: int, user: str) -> list[Finding]:
    """Each path exists, is owned by the factory user and writable by nobody else."""
    out: list[Finding] = []
    for p in paths:
        if p.uid is None or p.mode is None:
            out.append(Finding("error", f"{p.role} {p.path} does not exist",
                               f"install -d -o {user} -m 0755 {p.path}"))
            continue
        if p.uid != uid:
            out.append(Finding("error", f"{p.role} {p.path} is owned by uid {p.uid}, "
                                        f"not by the factory user {user} ({uid})",
                               f"chown -R {user} {p.path}"))
        if p.mode & (stat.S_IWGRP | stat.S_IWOTH):
            out.append(Finding("error", f"{p.role} {p.path} is writable by group or others "
                                        f"(mode {p.mode:04o})", f"chmod go-w {p.path}"))
    return out


def check_jobs(jobs: Iterable[Mapping[str, Any]], factory: str, user: str) -> list[Finding]:
    """Every glidein of this factory is owned by ``user``; grid jobs of ``user`` are tagged."""
    out: list[Finding] = []
    foreign: dict[str, int] = {}
    untagged = 0
    for job in jobs:
        owner = str(job.get("Owner", ""))
        mine = job.get(A.FACTORY) == factory
        if mine and owner != user:
            foreign[owner] = foreign.get(owner, 0) + 1
        if not mine and owner == user and job.get(A.FACTORY) is None:
            untagged += 1
    for owner, n in sorted(foreign.items()):
        out.append(Finding("error", f"{n} glidein(s) of factory {factory!r} are owned by "
                                    f"{owner!r}, not {user!r}; this factory cannot "
                                    "remove or release them",
                           f"let them finish, or remove them as {owner!r} "
                           f"(condor_rm -constraint '{A.FACTORY} == \"{factory}\"')"))
    if untagged:
        out.append(Finding("warning", f"{untagged} grid job(s) of {user!r} carry no "
                                      f"{A.FACTORY} tag; no factory tracks them",
                           "check them with condor_q -constraint "
                           f"'JobUniverse == 9 && {A.FACTORY} =?= undefined'"))
    return out


def check_state(rebuilt: str, path: Path) -> list[Finding]:
    """A corrupt state file is a warning (it is rebuilt); a missing one is normal."""
    if rebuilt.startswith("corrupt"):
        return [Finding("warning", f"state file {path} is {rebuilt}",
                        "nothing: the factory rebuilds it from the queue at start")]
    return []
