"""Opening a study file as untrusted data: the path quoted into a ``file:`` URI, the
schema compared with ours before anything runs or is written, one clear line for a file
that is not a study (empty, text, another program's database, damaged, locked), and
read-only media read immutable.

A study file can carry SQL of its own (triggers, views) that SQLite would run on our
writes, and a path can hold ``?``, ``#`` or ``%``, which a bare ``file:`` URI would take
as options. Nothing here trusts either."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from functools import cache

from ..errors import StorageError

OPEN_TIMEOUT = 2.0
"""Seconds an opening connection waits for another process's lock before it gives up with
a line naming the holder (a WAL reader never waits for our own writers; only a foreign
exclusive lock, or a writer of another study in the same file committing, can block it)."""


def uri(path: str, **params: str) -> str:
    """A ``file:`` URI for ``path``: the absolute path percent-quoted, so ``?``, ``#``,
    ``%``, spaces and non-ASCII names reach the file system unchanged."""
    query = urllib.parse.urlencode(params)
    return f"file:{urllib.parse.quote(os.path.abspath(path))}" + (f"?{query}" if query else "")


@cache
def expected_schema(script: str) -> frozenset[tuple[str, str, str, str | None]]:
    """``(type, name, table, sql)`` of every object ``script`` creates, as SQLite stores it."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(script)
        return frozenset(schema_of(conn))
    finally:
        conn.close()


def schema_of(conn: sqlite3.Connection) -> list[tuple[str, str, str, str | None]]:
    """The file's objects; read as bytes, so damaged text is a mismatch, not a crash."""
    rows = conn.execute(
        "SELECT CAST(type AS BLOB), CAST(name AS BLOB), CAST(tbl_name AS BLOB), "
        "CAST(sql AS BLOB) FROM sqlite_master"
    ).fetchall()
    return [(_text(t), _text(n), _text(tb), None if s is None else _text(s))
            for t, n, tb, s in rows]


def _text(value: object) -> str:
    return bytes(value).decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def check_schema(conn: sqlite3.Connection, path: str, script: str, *, marker: str) -> bool:
    """Refuse a file whose schema is not ours; True when it holds no object yet (a new or
    empty file). ``marker`` is the table every study file has.

    Every object must be one ``script`` creates, with the very same SQL: a trigger, view,
    extra table or index, or an altered column is refused, since SQLite would run a
    stored trigger on our writes. A subset is allowed (files from before a table was
    added get it on the next write)."""
    found = schema_of(conn)
    if not found:
        return True
    names = {name for _, name, _, _ in found}
    if marker not in names:
        shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
        raise StorageError(
            f"{path} is another program's SQLite database (it holds {shown}), not a "
            "migrate-opt study file; name a new file for the study"
        )
    foreign = sorted(f"{kind} {name}" for kind, name, _, sql in
                     set(found) - expected_schema(script))
    if foreign:
        raise StorageError(
            f"{path} is not a study file this version wrote: its schema differs from "
            f"migrate-opt's ({', '.join(foreign[:4])}{', ...' if len(foreign) > 4 else ''}); "
            "it was refused before anything in it ran"
        )
    return False


def explain(exc: sqlite3.Error | UnicodeDecodeError, path: str) -> StorageError:
    """One line for what SQLite reports about a file that is not a usable study (or
    text in it that is not UTF-8)."""
    text = " ".join(str(exc).split())[:200]  # SQLite may quote damaged text, newlines too
    if "locked" in text or "busy" in text:
        return StorageError(
            f"{path} is locked by {holders(path)}; wait for it to finish, or stop it"
        )
    if isinstance(exc, UnicodeDecodeError) or any(
        word in text for word in ("not a database", "malformed", "corrupt", "decode")
    ):
        return StorageError(
            f"{path} is not a readable migrate-opt study file ({text}): it is damaged, "
            "truncated or another kind of file"
        )
    return StorageError(f"cannot open study file {path}: {text}")


def holders(path: str) -> str:
    """The processes that have ``path`` open (Linux /proc; best effort), for the message."""
    target = os.path.realpath(path)
    found = []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    except OSError:
        pids = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
                with open(f"/proc/{pid}/comm") as f:
                    found.append(f"pid {pid} ({f.read().strip()})")
        except OSError:
            continue
    return ", ".join(found) if found else "another process (its pid is not visible here)"


def identity(path: str) -> tuple[int, int] | None:
    """``(device, inode)`` of ``path``, None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
