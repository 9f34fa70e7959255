import multiprocessing as mp

import pytest

from migrate_opt import MemoryDatabase, Record, SQLiteDatabase, StorageError
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
    reader = SQLiteDatabase(path, "w")
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
