"""The PostgreSQL index backend (for large factories): same interface as SQLite's.

Needs ``psycopg`` 3 (extra ``postgresql``). Tables mirror the SQLite ones; full-text
search uses a stored generated ``tsvector`` column (configuration ``simple``: no
stemming, like FTS5's ``unicode61``) with a GIN index. Every word of a search must
occur (``plainto_tsquery`` per word, so the query is parsed like the text);
``word*`` is a prefix (``to_tsquery('word':*)``). One connection per thread.

URL: ``postgresql://user@host/dbname`` (any libpq connection string).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from gwms_core.logserver.extract import GlideinFacts, merge
from gwms_core.logserver.index import (
    MAX_INDEXED_TEXT,
    FileRow,
    GlideinQuery,
    GlideinRow,
    LineRow,
    _facts_from_json,
    glidein_filters,
)
from gwms_core.logserver.records import LogRecord
from gwms_core.logserver.retention import Usage

#: Characters of one record's text that go into its tsvector (PostgreSQL limits a
#: tsvector to 1 MB).
MAX_TSV_TEXT = 256 * 1024

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS glideins (
        id BIGSERIAL PRIMARY KEY, entry TEXT NOT NULL, glidein TEXT NOT NULL,
        factory TEXT, frontend TEXT, job_id TEXT, node TEXT, site TEXT,
        start DOUBLE PRECISION, end_time DOUBLE PRECISION, last_seen DOUBLE PRECISION,
        exit_status INTEGER, failing_script TEXT, errors INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL, bytes BIGINT NOT NULL DEFAULT 0,
        updated DOUBLE PRECISION NOT NULL, UNIQUE (entry, glidein))""",
    "CREATE INDEX IF NOT EXISTS glideins_last_seen ON glideins (last_seen)",
    "CREATE INDEX IF NOT EXISTS glideins_entry ON glideins (entry, last_seen)",
    "CREATE INDEX IF NOT EXISTS glideins_frontend ON glideins (frontend, last_seen)",
    "CREATE INDEX IF NOT EXISTS glideins_status ON glideins (status, last_seen)",
    """CREATE TABLE IF NOT EXISTS files (
        id BIGSERIAL PRIMARY KEY,
        glidein_id BIGINT NOT NULL REFERENCES glideins (id) ON DELETE CASCADE,
        name TEXT NOT NULL, bytes BIGINT NOT NULL, updated DOUBLE PRECISION NOT NULL,
        facts JSONB NOT NULL, UNIQUE (glidein_id, name))""",
    f"""CREATE TABLE IF NOT EXISTS lines (
        id BIGSERIAL PRIMARY KEY,
        glidein_id BIGINT NOT NULL REFERENCES glideins (id) ON DELETE CASCADE,
        file_id BIGINT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL, time DOUBLE PRECISION NOT NULL, script TEXT NOT NULL,
        severity TEXT NOT NULL, pid INTEGER, event TEXT, exit_code INTEGER,
        attachment TEXT, message TEXT, text TEXT NOT NULL,
        tsv TSVECTOR GENERATED ALWAYS AS
            (to_tsvector('simple', left(text, {MAX_TSV_TEXT}))) STORED)""",
    "CREATE INDEX IF NOT EXISTS lines_glidein ON lines (glidein_id, time, seq)",
    "CREATE INDEX IF NOT EXISTS lines_file ON lines (file_id)",
    "CREATE INDEX IF NOT EXISTS lines_tsv ON lines USING GIN (tsv)",
]

_PREFIX_WORD = re.compile(r"\w+", re.UNICODE)


def ts_query(text: str) -> tuple[str, list[str]] | None:
    """SQL for a tsquery (AND of every word) and its parameters; None without a word."""
    parts: list[str] = []
    args: list[str] = []
    for raw in text.split():
        if raw.endswith("*"):
            words = _PREFIX_WORD.findall(raw)
            if not words:
                continue
            # all but the last word exactly, the last as a prefix
            for w in words[:-1]:
                parts.append("plainto_tsquery('simple', %s)")
                args.append(w)
            parts.append("to_tsquery('simple', %s)")
            args.append("'" + words[-1].replace("'", "''") + "':*")
        elif _PREFIX_WORD.search(raw):
            parts.append("plainto_tsquery('simple', %s)")
            args.append(raw)
    if not parts:
        return None
    return "(" + " && ".join(parts) + ")", args


class PgIndex:
    """:class:`~gwms_core.logserver.index.LogIndex` on PostgreSQL."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self.url = url
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        conn = self._conn()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(7342001)")  # one schema creator
            for stmt in _SCHEMA:
                conn.execute(stmt)

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._psycopg.connect(self.url, autocommit=True)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    # ---------------------------------------------------------------- writes

    def put_file(self, facts: GlideinFacts, name: str, records: Sequence[LogRecord],
                 nbytes: int, *, append: bool, now: float) -> GlideinFacts:
        """See :meth:`~gwms_core.logserver.index.LogIndex.put_file`."""
        entry, glidein = facts.entry, facts.glidein
        conn = self._conn()
        with conn.transaction():
            gid = conn.execute(
                "INSERT INTO glideins (entry, glidein, status, updated) "
                "VALUES (%s, %s, 'running', %s) ON CONFLICT (entry, glidein) "
                "DO UPDATE SET updated = EXCLUDED.updated RETURNING id",
                (entry, glidein, now)).fetchone()[0]
            frow = conn.execute("SELECT id, facts FROM files WHERE glidein_id=%s AND "
                                "name=%s FOR UPDATE", (gid, name)).fetchone()
            seq0 = 0
            if frow is not None and append:
                file_facts = merge(_facts_from_json(entry, glidein, json.dumps(frow[1])),
                                   facts)
                seq0 = conn.execute("SELECT COALESCE(MAX(seq)+1, 0) FROM lines "
                                    "WHERE file_id=%s", (frow[0],)).fetchone()[0]
            else:
                file_facts = facts
            ffacts = json.dumps({k: v for k, v in asdict(file_facts).items()
                                 if k not in ("entry", "glidein")})
            if frow is None:
                fid = conn.execute("INSERT INTO files (glidein_id, name, bytes, updated, "
                                   "facts) VALUES (%s, %s, %s, %s, %s) RETURNING id",
                                   (gid, name, nbytes, now, ffacts)).fetchone()[0]
            else:
                fid = frow[0]
                conn.execute("UPDATE files SET bytes=%s, updated=%s, facts=%s WHERE id=%s",
                             (nbytes, now, ffacts, fid))
                if not append:
                    conn.execute("DELETE FROM lines WHERE file_id=%s", (fid,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO lines (glidein_id, file_id, seq, time, script, severity, "
                    "pid, event, exit_code, attachment, message, text) "
                    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    [(gid, fid, seq0 + i, r.time, r.script, r.severity, r.pid, r.event,
                      r.exit_code, r.file.name if r.file else None, r.message,
                      r.text[:MAX_INDEXED_TEXT].replace("\0", "")) for i, r in
                     enumerate(records)])
            merged: GlideinFacts | None = None
            for (ftext,) in conn.execute("SELECT facts FROM files WHERE glidein_id=%s "
                                         "ORDER BY id", (gid,)).fetchall():
                merged = merge(merged, _facts_from_json(entry, glidein, json.dumps(ftext)))
            assert merged is not None
            total = conn.execute("SELECT SUM(bytes) FROM files WHERE glidein_id=%s",
                                 (gid,)).fetchone()[0]
            conn.execute(
                "UPDATE glideins SET factory=%s, frontend=%s, job_id=%s, node=%s, site=%s, "
                "start=%s, end_time=%s, last_seen=%s, exit_status=%s, failing_script=%s, "
                "errors=%s, status=%s, bytes=%s, updated=%s WHERE id=%s",
                (merged.factory, merged.frontend, merged.job_id, merged.node, merged.site,
                 merged.start, merged.end, merged.last_seen, merged.exit_status,
                 merged.failing_script, merged.errors, merged.status, total, now, gid))
        return merged

    def delete(self, entry: str, glidein: str) -> bool:
        """See :meth:`~gwms_core.logserver.index.LogIndex.delete`."""
        cur = self._conn().execute("DELETE FROM glideins WHERE entry=%s AND glidein=%s",
                                   (entry, glidein))
        return bool(cur.rowcount)

    # ---------------------------------------------------------------- reads

    _COLS = ("g.entry, g.glidein, g.factory, g.frontend, g.job_id, g.node, g.site, g.start, "
             "g.end_time, g.last_seen, g.exit_status, g.failing_script, g.errors, g.bytes, "
             "g.updated")
    _LINE_COLS = ("g.entry, g.glidein, f.name, l.seq, l.time, l.script, l.severity, l.pid, "
                  "l.event, l.exit_code, l.attachment, l.message, l.text")

    @staticmethod
    def _row(r: Sequence[Any]) -> GlideinRow:
        facts = GlideinFacts(entry=r[0], glidein=r[1], factory=r[2], frontend=r[3],
                             job_id=r[4], node=r[5], site=r[6], start=r[7], end=r[8],
                             last_seen=r[9], exit_status=r[10], failing_script=r[11],
                             errors=r[12])
        return GlideinRow(facts=facts, nbytes=int(r[13]), updated=r[14])

    @staticmethod
    def _where(query: GlideinQuery) -> tuple[list[str], list[Any]]:
        return glidein_filters(query, "%s")

    def glideins(self, query: GlideinQuery) -> tuple[list[GlideinRow], int]:
        """See :meth:`~gwms_core.logserver.index.LogIndex.glideins`."""
        where, args = self._where(query)
        if query.text:
            tq = ts_query(query.text)
            if tq is None:
                return [], 0
            where.append(f"g.id IN (SELECT l.glidein_id FROM lines l WHERE l.tsv @@ {tq[0]})")
            args.extend(tq[1])
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM glideins g{clause}", args).fetchone()[0]
        rows = conn.execute(f"SELECT {self._COLS} FROM glideins g{clause} "
                            "ORDER BY g.last_seen DESC NULLS LAST, g.id DESC "
                            "LIMIT %s OFFSET %s", [*args, query.limit, query.offset]).fetchall()
        return [self._row(r) for r in rows], int(total)

    def glidein(self, entry: str, glidein: str) -> GlideinRow | None:
        """See :meth:`~gwms_core.logserver.index.LogIndex.glidein`."""
        r = self._conn().execute(f"SELECT {self._COLS} FROM glideins g WHERE g.entry=%s AND "
                                 "g.glidein=%s", (entry, glidein)).fetchone()
        return self._row(r) if r else None

    def files(self, entry: str, glidein: str) -> list[FileRow]:
        """See :meth:`~gwms_core.logserver.index.LogIndex.files`."""
        rows = self._conn().execute(
            "SELECT f.name, f.bytes, f.updated FROM files f JOIN glideins g "
            "ON g.id = f.glidein_id WHERE g.entry=%s AND g.glidein=%s ORDER BY f.name",
            (entry, glidein)).fetchall()
        return [FileRow(r[0], int(r[1]), r[2]) for r in rows]

    def lines(self, entry: str, glidein: str, *, script: str | None = None,
              limit: int = 10000) -> list[LineRow]:
        """See :meth:`~gwms_core.logserver.index.LogIndex.lines`."""
        sql = (f"SELECT {self._LINE_COLS} FROM lines l JOIN glideins g ON g.id=l.glidein_id "
               "JOIN files f ON f.id=l.file_id WHERE g.entry=%s AND g.glidein=%s")
        args: list[Any] = [entry, glidein]
        if script is not None:
            sql += " AND l.script=%s"
            args.append(script)
        sql += " ORDER BY l.time, f.name, l.seq LIMIT %s"
        args.append(limit)
        return [LineRow(*r) for r in self._conn().execute(sql, args).fetchall()]

    def search(self, text: str, query: GlideinQuery) -> list[LineRow]:
        """See :meth:`~gwms_core.logserver.index.LogIndex.search`."""
        tq = ts_query(text)
        if tq is None:
            return []
        where, args = self._where(query)
        clause = "".join(" AND " + w for w in where)
        sql = (f"SELECT {self._LINE_COLS} FROM lines l JOIN glideins g ON g.id=l.glidein_id "
               f"JOIN files f ON f.id=l.file_id WHERE l.tsv @@ {tq[0]}{clause} "
               "ORDER BY l.time DESC LIMIT %s OFFSET %s")
        rows = self._conn().execute(sql, [*tq[1], *args, query.limit, query.offset]).fetchall()
        return [LineRow(*r) for r in rows]

    def facets(self) -> tuple[list[str], list[str]]:
        """See :meth:`~gwms_core.logserver.index.LogIndex.facets`."""
        conn = self._conn()
        entries = [r[0] for r in conn.execute(
            "SELECT DISTINCT entry FROM glideins ORDER BY entry").fetchall()]
        frontends = [r[0] for r in conn.execute(
            "SELECT DISTINCT frontend FROM glideins WHERE frontend IS NOT NULL "
            "ORDER BY 1").fetchall()]
        return entries, frontends

    def usage(self) -> list[Usage]:
        """See :meth:`~gwms_core.logserver.index.LogIndex.usage`."""
        return [Usage(e, g, up, int(b)) for e, g, up, b in self._conn().execute(
            "SELECT entry, glidein, updated, bytes FROM glideins").fetchall()]

    def count(self) -> int:
        """How many glideins are indexed."""
        return int(self._conn().execute("SELECT COUNT(*) FROM glideins").fetchone()[0])

    def close(self) -> None:
        """See :meth:`~gwms_core.logserver.index.LogIndex.close`."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
