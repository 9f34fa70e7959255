"""The docking engine with test-double backends (no Vina): cache, parallelism, timeouts,
crashes, and cleanup when the process running the engine is killed."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
from pathlib import Path

import pytest
from migrate_opt_molecules.docking.cache import DockingCache
from migrate_opt_molecules.docking.engine import TMP_PREFIX, DockingConfig, DockingEngine
from migrate_opt_molecules.testing import (
    CRASH,
    FAKE,
    HANG,
    TOGETHER,
    TOGETHER_BACKEND,
    hang_pids,
)

from migrate_opt import ConfigError
from migrate_opt.testing.events import wait_for


def _config(tmp_path: Path, **kw) -> DockingConfig:  # type: ignore[no-untyped-def]
    (tmp_path / "work").mkdir(exist_ok=True)
    kw.setdefault("backend", FAKE)
    return DockingConfig(cache_path=str(tmp_path / "cache.sqlite"),
                         tmp_dir=str(tmp_path / "work"), **kw)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose (killed, not yet reaped by its new parent)
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _wait_dead(pids: list[int], seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="backend"):
        DockingConfig(backend="autodock-9000")
    with pytest.raises(ConfigError, match="timeout"):
        DockingConfig(timeout=0)
    with pytest.raises(ConfigError, match="parallel"):
        DockingConfig(parallel=0)


def test_results_in_order_repeats_free(tmp_path: Path) -> None:
    engine = DockingEngine(_config(tmp_path))
    res = engine.dock([("ABL1", "CCO"), ("ABL1", "c1ccccc1"), ("ABL1", "CCO")])
    assert [r.vina for r in res] == [-0.75, -1.5, -0.75]  # the fake scores -0.25 per atom
    assert engine.dockings == 2
    assert not os.listdir(tmp_path / "work")


def test_cache_hit_costs_no_docking_across_engines(tmp_path: Path) -> None:
    DockingEngine(_config(tmp_path)).dock([("ABL1", "CCO"), ("DRD2", "CCO")])
    again = DockingEngine(_config(tmp_path))  # a new run, same cache file
    start = time.perf_counter()
    res = again.dock([("ABL1", "CCO"), ("DRD2", "CCO")])
    assert time.perf_counter() - start < 0.5
    assert again.dockings == 0 and all(r.cached and r.ok for r in res)
    other_seed = DockingEngine(_config(tmp_path, seed=1))  # another program: no mixing
    other_seed.dock([("ABL1", "CCO")])
    assert other_seed.dockings == 1


def test_no_cache_when_disabled(tmp_path: Path) -> None:
    engine = DockingEngine(_config(tmp_path, cache=False))
    engine.dock([("ABL1", "CCO")])
    engine.dock([("ABL1", "CCO")])
    assert engine.dockings == 2 and not (tmp_path / "cache.sqlite").exists()


def test_parallel_dockings_overlap(tmp_path: Path) -> None:
    # Each docking answers only once all four run at once: serial dockings would fail.
    jobs = [("ABL1", s) for s in ("CCO", "CCN", "CCC", "CCCl")]
    engine = DockingEngine(_config(tmp_path, backend=TOGETHER_BACKEND, parallel=TOGETHER,
                                   cache=False))
    res = engine.dock(jobs)
    assert all(r.ok for r in res), [r.error for r in res]
    assert [r.vina for r in res] == [-0.75] * 4  # three heavy atoms each


def test_crash_costs_one_result(tmp_path: Path) -> None:
    engine = DockingEngine(_config(tmp_path, backend=CRASH))
    res = engine.dock([("ABL1", "CCO")])
    assert res[0].status == "crash" and "exit code" in (res[0].error or "")
    assert not os.listdir(tmp_path / "work")
    assert len(DockingCache(tmp_path / "cache.sqlite")) == 0  # crashes may be transient


def test_timeout_kills_the_whole_group_and_cleans_up(tmp_path: Path) -> None:
    engine = DockingEngine(_config(tmp_path, backend=HANG, timeout=2))
    seen: list[list[int]] = []  # the hanging child's pids, read while it runs
    watcher = threading.Thread(
        target=lambda: seen.append(wait_for(lambda: hang_pids(tmp_path / "work"),
                                            "the hanging docking to start")), daemon=True)
    watcher.start()
    res = engine.dock([("ABL1", "CCO")])
    watcher.join(60)
    assert res[0].status == "timeout" and res[0].timeout == 2
    assert _wait_dead(seen[0])  # child and its "Vina"
    assert not os.listdir(tmp_path / "work")
    # the timeout is remembered for this limit, retried for a longer one
    assert engine.dock([("ABL1", "CCO")])[0].cached
    longer = DockingEngine(_config(tmp_path, backend=HANG, timeout=3))
    assert longer.cache is not None
    assert longer.cache.get(longer.config.program, "ABL1", "CCO", timeout=3) is None


def _dock_forever(config: DockingConfig) -> None:
    DockingEngine(config).dock([("ABL1", "CCO")])


def test_killing_the_worker_kills_vina_and_removes_temp(tmp_path: Path) -> None:
    """A process pool or Ray kills the worker running ``task.evaluate`` (SIGKILL, no
    cleanup code runs there): the docking child notices and takes Vina down with it."""
    config = _config(tmp_path, backend=HANG, timeout=None, cache=False)
    worker = mp.get_context("spawn").Process(target=_dock_forever, args=(config,))
    worker.start()
    pids = wait_for(lambda: hang_pids(tmp_path / "work"), "the hanging docking to start")
    assert all(_alive(p) for p in pids) and os.listdir(tmp_path / "work")
    os.kill(worker.pid, signal.SIGKILL)  # type: ignore[arg-type]
    worker.join()
    assert _wait_dead(pids)
    assert not [d for d in os.listdir(tmp_path / "work") if d.startswith(TMP_PREFIX)]


def test_engine_pickles_without_its_connection(tmp_path: Path) -> None:
    engine = DockingEngine(_config(tmp_path))
    engine.dock([("ABL1", "CCO")])
    clone = pickle.loads(pickle.dumps(engine))
    assert clone.config == engine.config and clone._cache is None
    assert clone.dock([("ABL1", "CCO")])[0].cached
