import multiprocessing as mp
import os
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from migrate_opt import MemoryDatabase, Record, SQLiteDatabase, StorageError, StudyLockedError
from migrate_opt.storage import list_studies
from migrate_opt.testing.contracts import DatabaseContract


class TestMemoryDatabase(DatabaseContract):
    @pytest.fixture
    def db(self):
        return MemoryDatabase()


class TestSQLiteDatabase(DatabaseContract):
    @pytest.fixture
    def db(self, tmp_path):
        db = SQLiteDatabase(str(tmp_path / "s.db"), study="s")
        yield db
        db.close()


def test_sqlite_studies_are_separate_and_persist(tmp_path):
    path = str(tmp_path / "x.db")
    a = SQLiteDatabase(path, "a")
    b = SQLiteDatabase(path, "b")
    a.add([Record("1", 1.0)])
    b.add([Record("1", 2.0), Record("2", 0.0)])
    a.close()
    b.close()
    assert list_studies(path) == ["a", "b"]
    again = SQLiteDatabase(path, "b")
    assert len(again) == 2 and again.get("1").score == 2.0
    assert len(SQLiteDatabase(path, "a")) == 1


def _writer(path: str, n: int) -> None:
    db = SQLiteDatabase(path, "w")
    for i in range(n):
        db.add([Record(f"s{i}", float(i))], group=(i, [{"i": i}]))


def test_sqlite_reader_while_writer(tmp_path):
    path = str(tmp_path / "rw.db")
    SQLiteDatabase(path, "w").close()
    proc = mp.get_context("spawn").Process(target=_writer, args=(path, 200))
    proc.start()
    reader = SQLiteDatabase(path, "w", readonly=True)
    seen = 0
    while proc.is_alive() or seen < 200:
        records = reader.records()
        assert [r.seq for r in records] == list(range(len(records)))  # never a torn read
        seen = len(records)
        if not proc.is_alive() and seen < 200:
            break
    proc.join()
    assert proc.exitcode == 0 and len(reader) == 200


def test_sqlite_readonly_never_writes(tmp_path):
    path = str(tmp_path / "ro.db")
    with pytest.raises(StorageError, match="no such storage file"):
        SQLiteDatabase(path, "x", readonly=True)
    SQLiteDatabase(path, "x").add([Record("a", 1.0)])
    with pytest.raises(StorageError, match="no study 'y'.*studies: x"):
        SQLiteDatabase(path, "y", readonly=True)
    ro = SQLiteDatabase(path, "x", readonly=True)
    assert ro.get("a").score == 1.0
    with pytest.raises(StorageError, match="read-only"):
        ro.add([Record("b", 1.0)])
    assert list_studies(path) == ["x"]


def _plant_lease(path, study, pid, host=None, heartbeat=None):
    """A lease row as another writer would have left it."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?)",
                     (study, pid, host or socket.gethostname(), "theirs",
                      time.time() if heartbeat is None else heartbeat))
    conn.close()


def _lease_rows(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT study, pid FROM leases").fetchall()
    finally:
        conn.close()


def test_a_second_writer_is_refused_at_once_naming_the_holder(tmp_path):
    path = str(tmp_path / "l.db")
    SQLiteDatabase(path, "s").close()
    _plant_lease(path, "s", os.getppid())  # a live process on this host holds it
    with pytest.raises(StudyLockedError, match=f"being written by pid {os.getppid()} on "):
        SQLiteDatabase(path, "s")
    assert len(SQLiteDatabase(path, "s", readonly=True)) == 0  # readers are never refused
    SQLiteDatabase(path, "other").close()  # the lease is per study


def test_a_writer_in_another_process_is_refused(tmp_path):
    path = str(tmp_path / "p.db")
    mine = SQLiteDatabase(path, "s")
    code = ("import sys; from migrate_opt import SQLiteDatabase, StudyLockedError\n"
            "try:\n    SQLiteDatabase(sys.argv[1], 's')\n"
            "except StudyLockedError as e:\n    print(e); sys.exit(3)\n")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 3 and f"pid {os.getpid()}" in out.stdout
    mine.close()
    assert _lease_rows(path) == []  # released on close
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_stale_lease_is_taken_over(tmp_path):
    path = str(tmp_path / "t.db")
    SQLiteDatabase(path, "s").close()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, timeout=60)
    _plant_lease(path, "s", int(gone.stdout))  # that process has exited and been reaped
    db = SQLiteDatabase(path, "s")
    assert _lease_rows(path) == [("s", os.getpid())]
    db.close()
    # a live pid on another host whose heartbeat stopped long ago
    _plant_lease(path, "s", os.getppid(), host="elsewhere", heartbeat=time.time() - 3600)
    SQLiteDatabase(path, "s", lease_timeout=60).close()
    _plant_lease(path, "s", os.getppid(), host="elsewhere")
    with pytest.raises(StudyLockedError, match="on elsewhere"):
        SQLiteDatabase(path, "s", lease_timeout=60)


def test_a_writer_that_lost_its_lease_writes_nothing_more(tmp_path):
    path = str(tmp_path / "lost.db")
    db = SQLiteDatabase(path, "s")
    _plant_lease(path, "s", os.getppid())  # taken over while we were not looking
    with pytest.raises(StudyLockedError, match="lost its writer lease"):
        db.add([Record("a", 1.0)])
    assert len(db) == 0


def test_a_killed_writer_not_yet_reaped_counts_as_gone(tmp_path):
    path = str(tmp_path / "z.db")
    SQLiteDatabase(path, "s").close()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    _plant_lease(path, "s", child.pid)
    # The child exits and stays a zombie until wait(): wait for that state, not for time.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    SQLiteDatabase(path, "s").close()
    child.wait()
