import time

import pytest

from migrate_opt import ConfigError, ProcessExecutor, SerialExecutor
from migrate_opt.testing.hostile import HostileTask


def test_serial_isolates_a_raising_solution():
    out = SerialExecutor().evaluate(HostileTask(), ["1", "raise", "2"])
    assert [e.score for e in out] == [1.0, None, 2.0]
    assert "objective failed" in out[1].info["error"]


@pytest.fixture(scope="module")
def pool():
    ex = ProcessExecutor(workers=2, timeout=2.0)
    yield ex
    ex.close()


def test_process_pool_evaluates_in_order(pool):
    out = pool.evaluate(HostileTask(), ["3", "1", "2", "5"])
    assert [e.score for e in out] == [3.0, 1.0, 2.0, 5.0]


def test_process_pool_survives_hang_crash_and_raise(pool):
    task = HostileTask()
    start = time.monotonic()
    out = pool.evaluate(task, ["1", "hang", "crash", "raise", "2"])
    assert time.monotonic() - start < 15
    assert [e.score for e in out] == [1.0, None, None, None, 2.0]
    assert "timeout" in out[1].info["error"]
    assert "crashed" in out[2].info["error"]
    assert "objective failed" in out[3].info["error"]
    # the pool is still usable, with fresh workers replacing the dead ones
    assert [e.score for e in pool.evaluate(task, ["7", "8"])] == [7.0, 8.0]


def test_process_pool_runs_in_parallel():
    with ProcessExecutor(workers=2, timeout=10) as ex:
        task = HostileTask(delay=0.5)
        ex.evaluate(task, ["0", "0"])  # warm up the workers
        start = time.monotonic()
        out = ex.evaluate(task, ["1", "2", "3", "4"])
        took = time.monotonic() - start
    assert len({e.info["pid"] for e in out}) == 2
    assert took < 1.9  # 4 x 0.5 s serially would be 2 s


def test_bad_config():
    with pytest.raises(ConfigError):
        ProcessExecutor(workers=0)
