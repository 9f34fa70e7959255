"""SQLite database: append-only records in WAL mode, one file holding several studies.

Each ``add`` is one transaction, committed before the policy is updated, so ``kill -9`` at
any point loses nothing that was told. Readers (``show``, ``report``) may open the file
while a run writes."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import ConfigError, StorageError
from ..values import Record
from . import lease
from .base import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY, settings TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    study TEXT NOT NULL, seq INTEGER NOT NULL, solution TEXT NOT NULL, score REAL,
    solved INTEGER NOT NULL, source TEXT NOT NULL, iteration INTEGER NOT NULL,
    completion TEXT, info TEXT NOT NULL, tags TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (study, seq), UNIQUE (study, solution));
CREATE INDEX IF NOT EXISTS records_by_score ON records (study, score DESC, seq);
CREATE TABLE IF NOT EXISTS groups (
    study TEXT NOT NULL, iteration INTEGER NOT NULL, members TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (study, iteration));
CREATE TABLE IF NOT EXISTS metrics (
    study TEXT NOT NULL, iteration INTEGER NOT NULL, step INTEGER NOT NULL,
    metrics TEXT NOT NULL, PRIMARY KEY (study, iteration, step));
CREATE TABLE IF NOT EXISTS checkpoints (
    study TEXT PRIMARY KEY, iteration INTEGER NOT NULL, state BLOB NOT NULL,
    created REAL NOT NULL);
"""

COLUMNS = "seq, solution, score, solved, source, iteration, completion, info, tags, created"


def _row_to_record(row: sqlite3.Row | tuple[Any, ...]) -> Record:
    seq, solution, score, solved, source, iteration, completion, info, tags, created = row
    return Record(
        solution=solution, score=score, info=json.loads(info), solved=bool(solved),
        source=source, iteration=iteration, completion=completion, tags=json.loads(tags),
        created=created, seq=seq,
    )


def connect(path: str, timeout: float = 60.0, readonly: bool = False) -> sqlite3.Connection:
    """Open (and create, unless ``readonly``) a database file in WAL mode."""
    try:
        if readonly:
            if not os.path.exists(path):
                raise StorageError(f"no such storage file: {path}")
            uri = f"file:{os.path.abspath(path)}?mode=ro"
            return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process kills
        conn.executescript(SCHEMA + lease.LEASE_SCHEMA)
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"cannot open database {path!r}: {exc}") from exc
    return conn


def list_studies(path: str) -> list[str]:
    """Names of the studies stored in a file (opened read-only)."""
    conn = connect(path, readonly=True)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM studies ORDER BY created")]
    finally:
        conn.close()


class SQLiteDatabase(Database):
    """``readonly=True`` opens an existing study for readers (show, report) without any
    write, so it works on a file the reader may not modify.

    A writer holds the study's lease (see :mod:`.lease`) from opening to :meth:`close`: a
    second process opening the study for writing gets :class:`StudyLockedError` at once.
    ``lease_timeout`` is how long a holder may go without a heartbeat before it counts
    as abandoned (the heartbeat thread beats every quarter of it)."""

    suffixes = (".db", ".sqlite", ".sqlite3")
    """Plain paths with these extensions open as SQLite studies (``factory.locate``)."""
    list_studies = staticmethod(list_studies)

    def __init__(
        self,
        path: str,
        study: str = "default",
        readonly: bool = False,
        lease_timeout: float = lease.DEFAULT_TIMEOUT,
    ) -> None:
        if lease_timeout <= 0:
            raise ConfigError(f"lease_timeout must be > 0 seconds, got {lease_timeout}")
        self.path = path
        self.study = study
        self.readonly = readonly
        self._conn = connect(path, readonly=readonly)
        self._lock = threading.Lock()
        self._holder: lease.Holder | None = None
        if readonly:
            if not self._query("SELECT 1 FROM studies WHERE name=?", (study,)):
                studies = ", ".join(list_studies(path)) or "none"
                raise StorageError(f"no study {study!r} in {path}; studies: {studies}")
            return
        me = lease.this_holder()
        try:
            with self._write(refresh=False) as c:
                lease.claim(c, study, path, me, lease_timeout)
                c.execute(
                    "INSERT OR IGNORE INTO studies VALUES (?, '{}', ?)", (study, time.time())
                )
        except StorageError:
            self._conn.close()
            raise
        self._holder = me
        self._beating = lease.start_heartbeat(self, SQLiteDatabase.heartbeat, lease_timeout / 4)

    def heartbeat(self) -> None:
        """Renew the writer lease (the background thread and every write do this)."""
        with self._write():
            pass

    @contextmanager
    def _write(self, refresh: bool = True) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise StorageError(f"{self.path} was opened read-only")
        with self._lock:
            try:
                with self._conn:  # one transaction: commit on success, roll back on error
                    self._conn.execute("BEGIN IMMEDIATE")
                    if refresh and self._holder is not None:
                        lease.refresh(self._conn, self.study, self.path, self._holder)
                    yield self._conn
            except sqlite3.IntegrityError as exc:
                raise StorageError(f"{exc} (study {self.study!r} in {self.path})") from exc
            except sqlite3.Error as exc:
                raise StorageError(f"database error in {self.path}: {exc}") from exc

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"database error in {self.path}: {exc}") from exc

    # -- records -------------------------------------------------------------------------
    def add(
        self, records: Sequence[Record], group: tuple[int, list[dict[str, Any]]] | None = None
    ) -> list[Record]:
        stored: list[Record] = []
        with self._write() as c:
            (n,) = c.execute("SELECT COUNT(*) FROM records WHERE study=?", (self.study,)).fetchone()
            for i, r in enumerate(records):
                seq = n + i
                c.execute(
                    f"INSERT INTO records (study, {COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (self.study, seq, r.solution, r.score, int(r.solved), r.source, r.iteration,
                     r.completion, json.dumps(dict(r.info), default=str),
                     json.dumps(dict(r.tags), default=str), r.created),
                )
                stored.append(dataclasses.replace(r, seq=seq))
            if group is not None:
                c.execute(
                    "INSERT INTO groups VALUES (?,?,?,?)",
                    (self.study, group[0], json.dumps(group[1], default=str), time.time()),
                )
        return stored

    def get(self, solution: str) -> Record | None:
        rows = self._query(
            f"SELECT {COLUMNS} FROM records WHERE study=? AND solution=?", (self.study, solution)
        )
        return _row_to_record(rows[0]) if rows else None

    def get_many(self, solutions: Sequence[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        unique = list(dict.fromkeys(solutions))
        for start in range(0, len(unique), 500):  # stay under SQLite's variable limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT {COLUMNS} FROM records WHERE study=? AND solution IN ({marks})",
                (self.study, *chunk),
            )
            found.update({r.solution: r for r in map(_row_to_record, rows)})
        return found

    def top(self, k: int) -> list[Record]:
        rows = self._query(
            f"SELECT {COLUMNS} FROM records WHERE study=? AND score IS NOT NULL "
            "ORDER BY score DESC, seq LIMIT ?",
            (self.study, k),
        )
        return [_row_to_record(r) for r in rows]

    def records(self) -> list[Record]:
        rows = self._query(
            f"SELECT {COLUMNS} FROM records WHERE study=? ORDER BY seq", (self.study,)
        )
        return [_row_to_record(r) for r in rows]

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM records WHERE study=?", (self.study,))[0][0])

    # -- groups, metrics, checkpoints ----------------------------------------------------
    def groups(self) -> list[tuple[int, list[dict[str, Any]]]]:
        rows = self._query(
            "SELECT iteration, members FROM groups WHERE study=? ORDER BY iteration",
            (self.study,),
        )
        return [(it, json.loads(m)) for it, m in rows]

    def last_iteration(self) -> int:
        (it,) = self._query("SELECT MAX(iteration) FROM groups WHERE study=?", (self.study,))[0]
        return -1 if it is None else int(it)

    def log_metrics(self, iteration: int, metrics: Sequence[dict[str, Any]]) -> None:
        with self._write() as c:
            c.executemany(
                "INSERT OR REPLACE INTO metrics VALUES (?,?,?,?)",
                [(self.study, iteration, i, json.dumps(m)) for i, m in enumerate(metrics)],
            )

    def metrics(self) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT iteration, step, metrics FROM metrics WHERE study=? ORDER BY iteration, step",
            (self.study,),
        )
        return [{"iteration": it, "step": st, **json.loads(m)} for it, st, m in rows]

    def save_checkpoint(self, iteration: int, state: bytes) -> None:
        with self._write() as c:
            c.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?,?,?,?)",
                (self.study, iteration, state, time.time()),
            )

    def load_checkpoint(self) -> tuple[int, bytes] | None:
        rows = self._query(
            "SELECT iteration, state FROM checkpoints WHERE study=?", (self.study,)
        )
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def settings(self) -> dict[str, Any]:
        rows = self._query("SELECT settings FROM studies WHERE name=?", (self.study,))
        return json.loads(rows[0][0]) if rows else {}

    def set_settings(self, settings: dict[str, Any]) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE studies SET settings=? WHERE name=?",
                (json.dumps(settings, default=str), self.study),
            )

    def close(self) -> None:
        """Release the writer lease and close the file (closing twice is harmless)."""
        if self._holder is not None:
            self._beating.set()
            holder, self._holder = self._holder, None
            with self._write(refresh=False) as c:
                lease.release(c, self.study, holder)
        with self._lock:
            self._conn.close()
