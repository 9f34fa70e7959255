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
from . import lease, sqlite_file
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

FULL_SCHEMA = SCHEMA + lease.LEASE_SCHEMA

COLUMNS = "seq, solution, score, solved, source, iteration, completion, info, tags, created"


def _row_to_record(row: sqlite3.Row | tuple[Any, ...]) -> Record:
    seq, solution, score, solved, source, iteration, completion, info, tags, created = row
    return Record(
        solution=solution, score=score, info=json.loads(info), solved=bool(solved),
        source=source, iteration=iteration, completion=completion, tags=json.loads(tags),
        created=created, seq=seq,
    )


def connect(path: str, timeout: float = 60.0, readonly: bool = False) -> sqlite3.Connection:
    """Open (and create, unless ``readonly``) a study file in WAL mode, after checking that
    it holds migrate-opt's schema and nothing else (:mod:`.sqlite_file`). A file that is
    not a study gives one :class:`StorageError` line; so does one that another process
    locks (after ``OPEN_TIMEOUT`` seconds, naming the holder)."""
    if path == ":memory:":
        memory = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
        memory.executescript(FULL_SCHEMA)
        return memory
    if readonly:
        if not os.path.exists(path):
            raise StorageError(f"no such storage file: {path}")
        return _open_reader(path)
    if os.path.exists(path) and not os.path.isfile(path):
        raise StorageError(f"{path} is not a regular file; name a study file (.db)")
    conn: sqlite3.Connection | None = None
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        conn = _open(path, mode="rwc")
        # Checked before the first write: WAL mode and our tables are never forced onto
        # another program's database, and a stored trigger never sees our writes.
        sqlite_file.check_schema(conn, path, FULL_SCHEMA, marker="studies")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process kills
        conn.executescript(FULL_SCHEMA)
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    except (sqlite3.Error, UnicodeDecodeError, StorageError, OSError) as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, StorageError):
            raise
        if isinstance(exc, OSError):
            raise StorageError(f"cannot open study file {path}: {exc}") from None
        raise sqlite_file.explain(exc, path) from None
    return conn


def _open(path: str, **params: str) -> sqlite3.Connection:
    conn = sqlite3.connect(sqlite_file.uri(path, **params), uri=True, check_same_thread=False,
                           timeout=sqlite_file.OPEN_TIMEOUT)
    conn.execute("PRAGMA trusted_schema=OFF")  # defence in depth: no side effects from SQL
    return conn


def _open_reader(path: str) -> sqlite3.Connection:
    """A read-only connection; on read-only media (no -shm can be created beside a WAL
    file) the file is read immutable: no writer can be at work where nothing is writable."""
    if not os.path.isfile(path):
        raise StorageError(f"{path} is not a regular file; name a study file (.db)")
    first: sqlite3.Error | UnicodeDecodeError | None = None
    for params in ({"mode": "ro"}, {"mode": "ro", "immutable": "1"}):
        conn = None
        try:
            conn = _open(path, **params)
            if sqlite_file.check_schema(conn, path, FULL_SCHEMA, marker="studies"):
                raise StorageError(f"{path} holds no migrate-opt study (it is empty)")
            return conn
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            if conn is not None:
                conn.close()
            first = first or exc
            if "locked" in str(exc) or "busy" in str(exc):
                break  # a lock is no read-only medium: report the holder
            wal = f"{path}-wal"
            media = "unable to open" in str(exc) or "readonly" in str(exc)
            if media and os.path.exists(wal) and os.path.getsize(wal) > 0:
                # Read immutable, SQLite would skip the records still in the -wal file.
                raise StorageError(
                    f"{path} cannot be read here (its -wal file holds records, and no -shm "
                    "file can be made beside it): copy the .db and its -wal to a writable "
                    "folder and open the copy"
                ) from None
        except StorageError:
            if conn is not None:
                conn.close()
            raise
    assert first is not None
    raise sqlite_file.explain(first, path) from None


def list_studies(path: str) -> list[str]:
    """Names of the studies stored in a file (opened read-only)."""
    conn = connect(path, readonly=True)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM studies ORDER BY created")]
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        raise sqlite_file.explain(exc, path) from None
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
    """Plain paths with these extensions open as SQLite studies (``storage.locate``)."""
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
        self._where = os.path.abspath(path)
        self._identity = None if readonly else sqlite_file.identity(self._where)
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
                    self._check_still_there()
                    if refresh and self._holder is not None:
                        lease.refresh(self._conn, self.study, self.path, self._holder)
                    yield self._conn
            except sqlite3.IntegrityError as exc:
                raise StorageError(f"{exc} (study {self.study!r} in {self.path})") from exc
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                raise sqlite_file.explain(exc, self.path) from None

    def _check_still_there(self) -> None:
        """A study file deleted or replaced under a running writer would swallow every
        later write into an unlinked inode: stop before claiming anything was stored."""
        if self._identity is not None and sqlite_file.identity(self._where) != self._identity:
            raise StorageError(
                f"the study file {self.path} was deleted or replaced while this process "
                "wrote to it; nothing more was stored (the records of this step are lost "
                "with the deleted file)"
            )

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                raise sqlite_file.explain(exc, self.path) from None

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
        if not rows:
            return {}
        try:
            settings = json.loads(rows[0][0])
        except (TypeError, ValueError):
            settings = None
        if not isinstance(settings, dict):
            raise StorageError(
                f"study {self.study!r} in {self.path} holds data this migrate-opt cannot "
                "read (its stored settings are not a JSON object); was it written by "
                "migrate-opt?"
            )
        return settings

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
            try:
                with self._write(refresh=False) as c:
                    lease.release(c, self.study, holder)
            except StorageError:
                pass  # a deleted or damaged file: there is no lease left to release
        with self._lock:
            self._conn.close()
