"""Running the grid: one cell is one optimizer run on its own SQLite database, so an
interrupted grid resumes where each run stopped; cells run in local processes or as Ray
tasks."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from migrate_opt import (
    ConfigError,
    Group,
    Optimizer,
    Record,
    SQLiteDatabase,
    Task,
    create_optimizer,
    create_task,
    run,
)
from migrate_opt.factory import with_fastest_config
from migrate_opt.policy.base import Policy

from .config import BenchmarkConfig, Cell
from .metrics import measure

log = logging.getLogger(__name__)

def run_cell(cell: Cell, out: str) -> dict[str, Any]:
    """Run (or resume, or just read back) one cell; returns its metrics, or
    ``{"key", "error"}`` when the run failed (it is retried next time)."""
    runs = Path(out) / "runs"
    done = runs / f"{cell.key}.json"
    if done.exists():
        return json.loads(done.read_text())
    runs.mkdir(parents=True, exist_ok=True)
    try:
        metrics = _execute(cell, str(runs / f"{cell.key}.db"))
    except Exception as exc:  # one broken cell must not sink the grid
        log.exception("run %s failed", cell.key)
        return {"key": cell.key, "task": cell.task.label, "method": cell.method.label,
                "seed": cell.seed, "error": f"{type(exc).__name__}: {exc}"}
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(metrics, indent=1))
    tmp.replace(done)  # atomic: a killed grid never leaves a half-written result
    return metrics


def _execute(cell: Cell, db_path: str) -> dict[str, Any]:
    seed_cell(cell)
    db = SQLiteDatabase(db_path, study=cell.key)
    try:
        resumed = len(db) > 0
        task = create_task(cell.task.task, **cell.task_options)
        opt = build_optimizer(cell, task, db,
                              init_adapter=_adapter_source(cell, Path(db_path).parent))
        seconds: dict[str, float] = defaultdict(float)

        def add_timings(_: Optimizer, group: Group, __: list[Record]) -> None:
            for k, v in group.timings.items():
                seconds[k] += v

        iterations = None
        if cell.max_iterations is not None:  # counted over the run's whole life
            iterations = max(cell.max_iterations - len(db.groups()), 0)
        start = time.perf_counter()
        result = run(opt, budget=cell.budget, iterations=iterations,
                     stop_when_solved=cell.stop_when_solved, callbacks=[add_timings],
                     progress=False)
        seconds["total"] = time.perf_counter() - start
        metrics = measure(task, db, task_label=cell.task.label, method=cell.method.label,
                          seed=cell.seed, budget=cell.budget, log_every=cell.log_every,
                          stopped=result.stopped, seconds=dict(seconds), resumed=resumed,
                          hook=cell.task.metrics)
        return {"key": cell.key, **asdict(metrics)}
    finally:
        db.close()


def _adapter_source(cell: Cell, runs: Path) -> str | None:
    """``FILE:STUDY`` of the finished run whose adapter ``cell`` starts from, if any."""
    key = cell.adapter_source
    if key is None:
        return None
    if not (runs / f"{key}.json").exists():  # a run still going would give a moving target
        assert cell.method.adapter_from is not None
        raise ConfigError(f"{cell.key} starts from the adapter of {key}, which has not "
                          f"finished: run method {cell.method.adapter_from.method!r} on task "
                          f"{cell.method.adapter_from.tasks[cell.task.label]!r} first")
    return f"{runs / key}.db:{key}"


def build_optimizer(cell: Cell, task: Task, db: SQLiteDatabase, *,
                    init_adapter: str | None = None) -> Optimizer:
    """The cell's optimizer, in one ``create`` call: its registered name and its config on
    this task, with ``init_adapter`` (``FILE:STUDY``) as its starting adapter."""
    config = cell.options
    if init_adapter is not None:
        config["init_adapter"] = init_adapter
    if cell.method.llm and not isinstance(config.get("policy"), Policy):
        config = with_fastest_config(config)  # the front door's choice; never stored
    return create_optimizer(cell.method.optimizer, task, database=db, seed=cell.seed,
                            budget=cell.budget, **config)


def seed_cell(cell: Cell) -> None:
    """Seed the global generators a policy may use at construction (LoRA init)."""
    random.seed(cell.seed)
    if cell.method.llm:
        import torch

        torch.manual_seed(cell.seed)
        torch.set_num_threads(int(os.environ.get("MIGRATE_OPT_THREADS", "1")))


def run_grid(
    config: BenchmarkConfig,
    out: str,
    *,
    workers: int | None = None,
    use_ray: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every cell not done yet; returns the results of all cells in grid order."""
    cells = config.cells()
    workers = workers or config.workers
    if use_ray:
        results = _ray_map(cells, out)
    elif workers == 1:
        results = _report_each((run_cell(c, out) for c in cells), on_result)
    else:
        results = _process_map(cells, out, workers, on_result)
    order = {c.key: i for i, c in enumerate(cells)}
    return sorted(results, key=lambda r: order[r["key"]])


def _report_each(results: Iterable[dict[str, Any]],
                 on_result: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    out = []
    for r in results:
        out.append(r)
        if on_result is not None:
            on_result(r)
    return out


def _process_map(cells: list[Cell], out: str, workers: int,
                 on_result: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    os.environ.setdefault("MIGRATE_OPT_THREADS", "1")  # one torch thread per run
    # spawn: a forked torch or SQLite handle is unsafe, and each run starts clean
    longest_first = sorted(cells, key=lambda c: not c.method.llm)  # LLM runs are slow
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_cell, c, out) for c in longest_first]
        return _report_each((f.result() for f in as_completed(futures)), on_result)


def _ray_map(cells: list[Cell], out: str) -> list[dict[str, Any]]:
    """Each cell as a Ray task (one CPU); ``RAY_ADDRESS`` picks a cluster. ``out`` must be
    on a file system the workers share, and the workers need this package installed
    (``pip install -e benchmarks``) as they need the plugins."""
    try:
        import ray
    except ImportError as exc:
        raise SystemExit("--ray needs ray: pip install 'ray[default]'") from exc
    ray.init(address=os.environ.get("RAY_ADDRESS"), ignore_reinit_error=True,
             runtime_env={"env_vars": {"MIGRATE_OPT_THREADS": "1"}})
    remote = ray.remote(num_cpus=1)(run_cell)
    return list(ray.get([remote.remote(c, out) for c in cells]))


@contextlib.contextmanager
def reopened(config: BenchmarkConfig, results: str | Path, key: str,
             ) -> Iterator[tuple[Cell, SQLiteDatabase, Optimizer]]:
    """A finished cell's optimizer, rebuilt from the grid's config on a temporary copy of
    its study file (the original is never written), for checks that go on from where the
    run ended."""
    cells = {c.key: c for c in config.cells()}
    if key not in cells:
        raise SystemExit(f"{key} is not a cell of this grid ({len(cells)} cells)")
    source = Path(results) / "runs" / f"{key}.db"
    if not source.is_file():
        raise SystemExit(f"{source} is not there: run the grid here first (study files "
                         "are not committed)")
    cell = cells[key]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / source.name
        shutil.copy(source, copy)
        seed_cell(cell)
        db = SQLiteDatabase(str(copy), study=cell.key)
        try:
            yield cell, db, build_optimizer(cell, create_task(cell.task.task,
                                                              **cell.task_options), db)
        finally:
            db.close()
