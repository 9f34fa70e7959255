"""The writer lease of a SQLite study: one writing process at a time.

A writer claims the study with a row (pid, host, token, heartbeat) in the ``leases`` table
and refreshes the heartbeat while it runs (on every write and from a background thread),
as Optuna's heartbeat does. A second writer is refused at once with a line naming the
holder. A lease is stale, and taken over, when its process is gone (same host) or its
heartbeat is older than the timeout (a crashed or unreachable holder)."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import StudyLockedError

T = TypeVar("T")

DEFAULT_TIMEOUT = 120.0
"""Seconds without a heartbeat after which a lease counts as abandoned."""

LEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    study TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, token TEXT NOT NULL,
    heartbeat REAL NOT NULL);
"""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    token: str
    heartbeat: float


def this_holder() -> Holder:
    return Holder(os.getpid(), socket.gethostname(), uuid.uuid4().hex, time.time())


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a killed writer not yet reaped by its
    parent is a zombie, which counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return not _zombie(pid)
    except OSError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:  # Linux; elsewhere a zombie counts as alive
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def is_stale(held: Holder, me: Holder, timeout: float, now: float) -> bool:
    """Whether ``me`` may take ``held`` over."""
    if held.host == me.host and held.pid == me.pid:
        return True  # an earlier handle of this very process
    if now - held.heartbeat > timeout:
        return True
    return held.host == me.host and not pid_alive(held.pid)


def claim(conn: sqlite3.Connection, study: str, path: str, me: Holder, timeout: float) -> None:
    """Take the lease inside the caller's write transaction, or raise StudyLockedError."""
    row = conn.execute(
        "SELECT pid, host, token, heartbeat FROM leases WHERE study=?", (study,)
    ).fetchone()
    now = time.time()
    if row is not None:
        held = Holder(int(row[0]), str(row[1]), str(row[2]), float(row[3]))
        if not is_stale(held, me, timeout, now):
            raise StudyLockedError(
                f"study {study!r} in {path} is being written by pid {held.pid} on "
                f"{held.host} (heartbeat {now - held.heartbeat:.0f} s ago); wait for it to "
                f"finish or stop it (a lease with no heartbeat for {timeout:.0f} s, or whose "
                "process is gone, is taken over)"
            )
    conn.execute(
        "INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?)",
        (study, me.pid, me.host, me.token, now),
    )


def refresh(conn: sqlite3.Connection, study: str, path: str, me: Holder) -> None:
    """Renew the heartbeat inside a write transaction; a lost lease stops the writer
    before it writes anything more."""
    cur = conn.execute(
        "UPDATE leases SET heartbeat=? WHERE study=? AND token=?", (time.time(), study, me.token)
    )
    if cur.rowcount == 0:
        raise StudyLockedError(
            f"study {study!r} in {path}: this process lost its writer lease (another "
            "writer took it over after a missed heartbeat); nothing more was written"
        )


def release(conn: sqlite3.Connection, study: str, me: Holder) -> None:
    conn.execute("DELETE FROM leases WHERE study=? AND token=?", (study, me.token))


def start_heartbeat(owner: T, beat: Callable[[T], None], interval: float) -> threading.Event:
    """Call ``beat(owner)`` every ``interval`` seconds until the returned event is set or
    ``owner`` is garbage-collected (the thread holds only a weak reference)."""
    stop = threading.Event()
    ref = weakref.ref(owner)

    def loop() -> None:
        while not stop.wait(interval):
            target = ref()
            if target is None:
                return
            try:
                beat(target)
            except Exception:  # a closed or lost study: the next write reports it
                return
            del target

    threading.Thread(target=loop, name="migrate-opt-lease", daemon=True).start()
    return stop
