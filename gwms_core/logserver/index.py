"""The search index: glidein metadata plus full-text search over log lines.

:class:`LogIndex` is the small interface the server uses; :class:`SqliteIndex` is the
embedded default (SQLite in WAL mode with an FTS5 table). A PostgreSQL backend would
implement the same methods (``tsvector`` + GIN index for the text); see
docs/logserver.md.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from gwms_core.logserver.extract import GlideinFacts, merge
from gwms_core.logserver.records import LogRecord
from gwms_core.logserver.retention import Usage

#: Characters of an attached file that are indexed (the whole file stays downloadable).
MAX_INDEXED_TEXT = 1024 * 1024


@dataclass(frozen=True)
class GlideinQuery:
    """Filters of the glidein list; all optional, combined with AND."""

    entry: str | None = None
    frontend: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class GlideinRow:
    """One glidein as listed: its facts, status, size and last upload time."""

    facts: GlideinFacts
    nbytes: int
    updated: float

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict (the REST API's glidein object)."""
        d = asdict(self.facts)
        d.update(status=self.facts.status, bytes=self.nbytes, updated=self.updated)
        return d


@dataclass(frozen=True)
class FileRow:
    """One uploaded file of a glidein."""

    name: str
    nbytes: int
    updated: float


@dataclass(frozen=True)
class LineRow:
    """One indexed record, as shown on a timeline or in search hits."""

    entry: str
    glidein: str
    file: str
    seq: int
    time: float
    script: str
    severity: str
    pid: int | None
    event: str | None
    exit_code: int | None
    attachment: str | None
    message: str | None
    text: str

    @property
    def file_text(self) -> str:
        """The attached file's (indexed) text, without the message."""
        if self.attachment is None:
            return ""
        if self.message is None:
            return self.text
        return self.text[len(self.message) + 1:]


def glidein_filters(query: GlideinQuery, placeholder: str) -> tuple[list[str], list[Any]]:
    """SQL conditions on the ``glideins g`` table for ``query``'s filters (not its text).

    ``placeholder`` is the driver's parameter marker (``?`` for SQLite, ``%s`` for psycopg).
    """
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("g.entry", query.entry), ("g.frontend", query.frontend),
                          ("g.status", query.status)):
        if value:
            where.append(f"{column} = {placeholder}")
            args.append(value)
    if query.since is not None:
        where.append(f"g.last_seen >= {placeholder}")
        args.append(query.since)
    if query.until is not None:
        where.append(f"g.start <= {placeholder}")
        args.append(query.until)
    return where, args


class LogIndex(Protocol):
    """What the log server needs from an index backend."""

    def put_file(self, facts: GlideinFacts, name: str, records: Sequence[LogRecord],
                 nbytes: int, *, append: bool, now: float) -> GlideinFacts:
        """Index (or re-index) one stored file; return the glidein's merged facts."""
        ...

    def glideins(self, query: GlideinQuery) -> tuple[list[GlideinRow], int]:
        """A page of glideins matching ``query`` (newest first) and the total count."""
        ...

    def glidein(self, entry: str, glidein: str) -> GlideinRow | None:
        """One glidein, or None."""
        ...

    def files(self, entry: str, glidein: str) -> list[FileRow]:
        """The files a glidein uploaded."""
        ...

    def lines(self, entry: str, glidein: str, *, script: str | None = None,
              limit: int = 10000) -> list[LineRow]:
        """A glidein's records in time order (optionally of one script)."""
        ...

    def search(self, text: str, query: GlideinQuery) -> list[LineRow]:
        """Records whose text matches ``text`` within the glideins ``query`` selects."""
        ...

    def delete(self, entry: str, glidein: str) -> bool:
        """Forget a glidein; True if it existed."""
        ...

    def facets(self) -> tuple[list[str], list[str]]:
        """Every entry and every frontend name known (for filter menus)."""
        ...

    def usage(self) -> list[Usage]:
        """Every glidein's last upload time (server clock) and bytes (retention input)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS glideins (
    id INTEGER PRIMARY KEY, entry TEXT NOT NULL, glidein TEXT NOT NULL,
    factory TEXT, frontend TEXT, job_id TEXT, node TEXT, site TEXT,
    start REAL, end_time REAL, last_seen REAL, exit_status INTEGER,
    failing_script TEXT, errors INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL,
    UNIQUE (entry, glidein));
CREATE INDEX IF NOT EXISTS glideins_last_seen ON glideins (last_seen);
CREATE INDEX IF NOT EXISTS glideins_entry ON glideins (entry, last_seen);
CREATE INDEX IF NOT EXISTS glideins_frontend ON glideins (frontend, last_seen);
CREATE INDEX IF NOT EXISTS glideins_status ON glideins (status, last_seen);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    glidein_id INTEGER NOT NULL REFERENCES glideins (id) ON DELETE CASCADE,
    name TEXT NOT NULL, bytes INTEGER NOT NULL, updated REAL NOT NULL, facts TEXT NOT NULL,
    UNIQUE (glidein_id, name));
CREATE TABLE IF NOT EXISTS lines (
    id INTEGER PRIMARY KEY,
    glidein_id INTEGER NOT NULL REFERENCES glideins (id) ON DELETE CASCADE,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, time REAL NOT NULL, script TEXT NOT NULL, severity TEXT NOT NULL,
    pid INTEGER, event TEXT, exit_code INTEGER, attachment TEXT, message TEXT,
    text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lines_glidein ON lines (glidein_id, time, seq);
CREATE INDEX IF NOT EXISTS lines_file ON lines (file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS lines_fts USING fts5 (
    text, content='lines', content_rowid='id', tokenize='unicode61');
CREATE TRIGGER IF NOT EXISTS lines_ai AFTER INSERT ON lines BEGIN
    INSERT INTO lines_fts (rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER IF NOT EXISTS lines_ad AFTER DELETE ON lines BEGIN
    INSERT INTO lines_fts (lines_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
"""

_TERM = re.compile(r"[\w@.:/+-]+\*?", re.UNICODE)


def fts_query(text: str) -> str | None:
    """An FTS5 query from free text: every word must occur (AND); ``word*`` is a prefix.

    Words are quoted, so FTS5 operators in user input are plain words. None when the
    text has no word.
    """
    terms = []
    for raw in _TERM.findall(text):
        prefix = raw.endswith("*")
        word = raw.rstrip("*")
        if word:
            terms.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(terms) if terms else None


def _facts_from_json(entry: str, glidein: str, text: str) -> GlideinFacts:
    d = json.loads(text)
    d.update(entry=entry, glidein=glidein)
    return GlideinFacts(**d)


class SqliteIndex:
    """:class:`LogIndex` on SQLite + FTS5 (one connection per thread, one writer)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._write = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                                   isolation_level=None)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._write:
                self._all.append(conn)
        return conn

    # ---------------------------------------------------------------- writes

    def put_file(self, facts: GlideinFacts, name: str, records: Sequence[LogRecord],
                 nbytes: int, *, append: bool, now: float) -> GlideinFacts:
        """See :meth:`LogIndex.put_file`. ``facts`` are those of ``records`` alone."""
        entry, glidein = facts.entry, facts.glidein
        conn = self._conn()
        with self._write:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT id FROM glideins WHERE entry=? AND glidein=?",
                                   (entry, glidein)).fetchone()
                if row is None:
                    gid = conn.execute(
                        "INSERT INTO glideins (entry, glidein, status, updated) "
                        "VALUES (?, ?, 'running', ?)", (entry, glidein, now)).lastrowid
                else:
                    gid = row[0]
                frow = conn.execute("SELECT id, facts FROM files WHERE glidein_id=? AND "
                                    "name=?", (gid, name)).fetchone()
                seq0 = 0
                if frow is not None and append:
                    file_facts = merge(_facts_from_json(entry, glidein, frow[1]), facts)
                    seq0 = conn.execute("SELECT COALESCE(MAX(seq)+1, 0) FROM lines "
                                        "WHERE file_id=?", (frow[0],)).fetchone()[0]
                else:
                    file_facts = facts
                ffacts = json.dumps({k: v for k, v in asdict(file_facts).items()
                                     if k not in ("entry", "glidein")})
                if frow is None:
                    fid = conn.execute("INSERT INTO files (glidein_id, name, bytes, updated, "
                                       "facts) VALUES (?, ?, ?, ?, ?)",
                                       (gid, name, nbytes, now, ffacts)).lastrowid
                else:
                    fid = frow[0]
                    conn.execute("UPDATE files SET bytes=?, updated=?, facts=? WHERE id=?",
                                 (nbytes, now, ffacts, fid))
                    if not append:
                        conn.execute("DELETE FROM lines WHERE file_id=?", (fid,))
                conn.executemany(
                    "INSERT INTO lines (glidein_id, file_id, seq, time, script, severity, "
                    "pid, event, exit_code, attachment, message, text) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(gid, fid, seq0 + i, r.time, r.script, r.severity, r.pid, r.event,
                      r.exit_code, r.file.name if r.file else None, r.message,
                      r.text[:MAX_INDEXED_TEXT]) for i, r in enumerate(records)])
                merged: GlideinFacts | None = None
                for (ftext,) in conn.execute("SELECT facts FROM files WHERE glidein_id=? "
                                             "ORDER BY id", (gid,)):
                    merged = merge(merged, _facts_from_json(entry, glidein, ftext))
                assert merged is not None
                total = conn.execute("SELECT SUM(bytes) FROM files WHERE glidein_id=?",
                                     (gid,)).fetchone()[0]
                conn.execute(
                    "UPDATE glideins SET factory=?, frontend=?, job_id=?, node=?, site=?, "
                    "start=?, end_time=?, last_seen=?, exit_status=?, failing_script=?, "
                    "errors=?, status=?, bytes=?, updated=? WHERE id=?",
                    (merged.factory, merged.frontend, merged.job_id, merged.node,
                     merged.site, merged.start, merged.end, merged.last_seen,
                     merged.exit_status, merged.failing_script, merged.errors,
                     merged.status, total, now, gid))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return merged

    def delete(self, entry: str, glidein: str) -> bool:
        """See :meth:`LogIndex.delete`."""
        conn = self._conn()
        with self._write:
            cur = conn.execute("DELETE FROM glideins WHERE entry=? AND glidein=?",
                               (entry, glidein))
        return cur.rowcount > 0

    # ---------------------------------------------------------------- reads

    _COLS = ("g.entry, g.glidein, g.factory, g.frontend, g.job_id, g.node, g.site, g.start, "
             "g.end_time, g.last_seen, g.exit_status, g.failing_script, g.errors, g.bytes, "
             "g.updated")

    @staticmethod
    def _row(r: Sequence[Any]) -> GlideinRow:
        facts = GlideinFacts(entry=r[0], glidein=r[1], factory=r[2], frontend=r[3],
                             job_id=r[4], node=r[5], site=r[6], start=r[7], end=r[8],
                             last_seen=r[9], exit_status=r[10], failing_script=r[11],
                             errors=r[12])
        return GlideinRow(facts=facts, nbytes=r[13], updated=r[14])

    @staticmethod
    def _where(query: GlideinQuery) -> tuple[list[str], list[Any]]:
        return glidein_filters(query, "?")

    def glideins(self, query: GlideinQuery) -> tuple[list[GlideinRow], int]:
        """See :meth:`LogIndex.glideins`."""
        where, args = self._where(query)
        if query.text:
            fq = fts_query(query.text)
            if fq is None:
                return [], 0
            where.append("g.id IN (SELECT l.glidein_id FROM lines_fts "
                         "JOIN lines l ON l.id = lines_fts.rowid WHERE lines_fts MATCH ?)")
            args.append(fq)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM glideins g{clause}", args).fetchone()[0]
        rows = conn.execute(f"SELECT {self._COLS} FROM glideins g{clause} "
                            "ORDER BY g.last_seen DESC, g.id DESC LIMIT ? OFFSET ?",
                            [*args, query.limit, query.offset]).fetchall()
        return [self._row(r) for r in rows], total

    def glidein(self, entry: str, glidein: str) -> GlideinRow | None:
        """See :meth:`LogIndex.glidein`."""
        r = self._conn().execute(f"SELECT {self._COLS} FROM glideins g WHERE g.entry=? AND "
                                 "g.glidein=?", (entry, glidein)).fetchone()
        return self._row(r) if r else None

    def files(self, entry: str, glidein: str) -> list[FileRow]:
        """See :meth:`LogIndex.files`."""
        rows = self._conn().execute(
            "SELECT f.name, f.bytes, f.updated FROM files f JOIN glideins g "
            "ON g.id = f.glidein_id WHERE g.entry=? AND g.glidein=? ORDER BY f.name",
            (entry, glidein)).fetchall()
        return [FileRow(*r) for r in rows]

    _LINE_COLS = ("g.entry, g.glidein, f.name, l.seq, l.time, l.script, l.severity, l.pid, "
                  "l.event, l.exit_code, l.attachment, l.message, l.text")

    def lines(self, entry: str, glidein: str, *, script: str | None = None,
              limit: int = 10000) -> list[LineRow]:
        """See :meth:`LogIndex.lines`."""
        sql = (f"SELECT {self._LINE_COLS} FROM lines l JOIN glideins g ON g.id=l.glidein_id "
               "JOIN files f ON f.id=l.file_id WHERE g.entry=? AND g.glidein=?")
        args: list[Any] = [entry, glidein]
        if script is not None:
            sql += " AND l.script=?"
            args.append(script)
        sql += " ORDER BY l.time, f.name, l.seq LIMIT ?"
        args.append(limit)
        return [LineRow(*r) for r in self._conn().execute(sql, args)]

    def search(self, text: str, query: GlideinQuery) -> list[LineRow]:
        """See :meth:`LogIndex.search`."""
        fq = fts_query(text)
        if fq is None:
            return []
        where, args = self._where(query)
        clause = "".join(" AND " + w for w in where)
        sql = (f"SELECT {self._LINE_COLS} FROM lines_fts JOIN lines l ON l.id=lines_fts.rowid "
               "JOIN glideins g ON g.id=l.glidein_id JOIN files f ON f.id=l.file_id "
               f"WHERE lines_fts MATCH ?{clause} ORDER BY l.time DESC LIMIT ? OFFSET ?")
        rows = self._conn().execute(sql, [fq, *args, query.limit, query.offset]).fetchall()
        return [LineRow(*r) for r in rows]

    def facets(self) -> tuple[list[str], list[str]]:
        """See :meth:`LogIndex.facets`."""
        conn = self._conn()
        entries = [e for (e,) in conn.execute("SELECT DISTINCT entry FROM glideins "
                                              "ORDER BY entry")]
        frontends = [f for (f,) in conn.execute("SELECT DISTINCT frontend FROM glideins "
                                                "WHERE frontend IS NOT NULL ORDER BY 1")]
        return entries, frontends

    def usage(self) -> list[Usage]:
        """See :meth:`LogIndex.usage`."""
        return [Usage(e, g, up, b) for e, g, up, b in
                self._conn().execute("SELECT entry, glidein, updated, bytes FROM glideins")]

    def count(self) -> int:
        """How many glideins are indexed."""
        n: int = self._conn().execute("SELECT COUNT(*) FROM glideins").fetchone()[0]
        return n

    def close(self) -> None:
        """See :meth:`LogIndex.close`."""
        with self._write:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def open_index(url: str) -> LogIndex:
    """An index from a URL: ``sqlite:PATH`` or a plain path (SQLite), or
    ``postgresql://…`` (PostgreSQL, needs psycopg: extra ``postgresql``)."""
    if url.startswith(("postgresql:", "postgres:")):
        from gwms_core.logserver.pgindex import PgIndex
        return PgIndex(url)
    return SqliteIndex(url.removeprefix("sqlite:"))



def rebuild(data_dir: str | Path) -> tuple[int, int]:
    """Rebuild ``DATA_DIR/index.sqlite`` from the stored files (server stopped).

    The files are the source of truth; the index is derived from them. Builds a new
    index beside the old one and renames it over: a crash leaves the old index.
    Returns (glideins, files) indexed.
    """
    import os

    from gwms_core.logserver.blobs import BlobStore
    from gwms_core.logserver.extract import extract
    from gwms_core.logserver.records import UploadError, read_stored

    data = Path(data_dir)
    target = data / "index.sqlite"
    tmp = data / "index.sqlite.rebuild"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    index = SqliteIndex(tmp)
    glideins: set[tuple[str, str]] = set()
    files = 0
    try:
        for entry, glidein, name, path in BlobStore(data / "logs").iter_files():
            raw = path.read_bytes()
            try:
                records = read_stored(raw)
            except UploadError:
                continue  # not a log this server wrote; left alone
            index.put_file(extract(entry, glidein, records), name, records, len(raw),
                           append=False, now=path.stat().st_mtime)
            glideins.add((entry, glidein))
            files += 1
        index._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        index.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, target)
    return len(glideins), files
