"""Where evaluations run: in this process, or in a pool of worker processes with a
per-evaluation timeout and crash isolation (a hung or crashing objective costs one invalid
score, never the run)."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from ..errors import ConfigError
from ..task import Task
from ..values import Evaluation

log = logging.getLogger(__name__)

STARTUP_LIMIT = 300.0
"""Seconds a spawned worker may take to import the task's modules before it counts as dead."""


class Executor(ABC):
    """Evaluates batches of solutions of a task."""

    name = "executor"

    @abstractmethod
    def evaluate(self, task: Task, solutions: Sequence[str]) -> list[Evaluation]: ...

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def safe_evaluate(task: Task, solutions: Sequence[str]) -> list[Evaluation]:
    """``task.evaluate`` that never raises: on an error, retry one by one so a single bad
    solution is the only one marked invalid."""
    if not solutions:
        return []
    try:
        out = task.evaluate(list(solutions))
        if len(out) != len(solutions):
            raise RuntimeError(f"task returned {len(out)} evaluations for {len(solutions)}")
        return list(out)
    except Exception as exc:
        if len(solutions) == 1:
            return [Evaluation.invalid(f"{type(exc).__name__}: {exc}")]
        return [e for s in solutions for e in safe_evaluate(task, [s])]


class SerialExecutor(Executor):
    """Evaluate in this process, one batch at a time (cheap objectives)."""

    name = "serial"

    def evaluate(self, task: Task, solutions: Sequence[str]) -> list[Evaluation]:
        return safe_evaluate(task, solutions)


@dataclass(frozen=True)
class ProcessConfig:
    """Settings of the process pool."""

    workers: int = 2
    """Worker processes evaluating in parallel."""
    timeout: float | None = 600.0
    """Seconds one evaluation may take before its worker is killed; None: no limit."""
    batch: int = 1
    """Solutions sent to a worker at once (raise it for cheap objectives)."""

    def __post_init__(self) -> None:
        if self.workers < 1 or self.batch < 1:
            raise ConfigError("workers and batch must be >= 1")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"timeout must be > 0 or None, got {self.timeout}")


def _worker(conn: Connection, task: Task) -> None:
    os.setsid()  # own process group: a timeout kills the objective's children too
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send("started")  # the timeout runs from here, not from the (slow) spawn
        conn.send(safe_evaluate(task, job))


class _Worker:
    def __init__(self, ctx: Any, task: Task) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, task), daemon=True)
        self.proc.start()
        child.close()
        self.job: list[int] | None = None
        self.sent = 0.0
        self.started: float | None = None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class ProcessExecutor(Executor):
    """A pool of worker processes (spawned, so the task must be picklable)."""

    name = "process"

    def __init__(self, config: ProcessConfig = ProcessConfig(), **options: Any) -> None:
        self.config = ProcessConfig(**options) if options else config
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []
        self._task: Task | None = None

    def _ensure(self, task: Task) -> None:
        if self._task is not task:
            self.close()
            self._task = task
        while len(self._workers) < self.config.workers:
            self._workers.append(_Worker(self._ctx, task))

    def evaluate(self, task: Task, solutions: Sequence[str]) -> list[Evaluation]:
        self._ensure(task)
        results: list[Evaluation | None] = [None] * len(solutions)
        jobs = [
            list(range(i, min(i + self.config.batch, len(solutions))))
            for i in range(0, len(solutions), self.config.batch)
        ]
        while jobs or any(w.job is not None for w in self._workers):
            for w in self._workers:
                if w.job is None and jobs:
                    w.job, w.sent, w.started = jobs.pop(0), time.monotonic(), None
                    w.conn.send([solutions[i] for i in w.job])
            self._collect(task, results, solutions)
        return [r if r is not None else Evaluation.invalid("lost") for r in results]

    def _collect(
        self, task: Task, results: list[Evaluation | None], solutions: Sequence[str]
    ) -> None:
        busy = [w for w in self._workers if w.job is not None]
        ready = wait([w.conn for w in busy], timeout=self._next_deadline(busy))
        for w in busy:
            assert w.job is not None
            reason = self._progress(w, results) if w.conn in ready else self._overdue(w)
            if reason is None:
                continue
            log.warning("evaluation failed: %s", reason)
            for i in w.job:
                results[i] = Evaluation.invalid(reason, solution=solutions[i])
            self._replace(w, task)

    def _deadline(self, w: _Worker) -> float:
        if w.started is None:
            return w.sent + STARTUP_LIMIT
        return w.started + (self.config.timeout or float("inf"))

    def _next_deadline(self, busy: list[_Worker]) -> float:
        soonest = min(self._deadline(w) for w in busy) - time.monotonic()
        return max(0.01, min(soonest, 1.0))

    def _progress(self, w: _Worker, results: list[Evaluation | None]) -> str | None:
        """Read one message; a reason when the worker died."""
        assert w.job is not None
        try:
            message = w.conn.recv()
        except (EOFError, OSError):
            w.proc.join(1)
            return f"worker crashed (exit code {w.proc.exitcode})"
        if message == "started":
            w.started = time.monotonic()
            return None
        for i, ev in zip(w.job, message):
            results[i] = ev
        w.job = None
        return None

    def _overdue(self, w: _Worker) -> str | None:
        if time.monotonic() < self._deadline(w):
            return None
        if w.started is None:
            return f"worker did not start within {STARTUP_LIMIT:g} s"
        return f"timeout after {self.config.timeout:g} s"

    def _replace(self, w: _Worker, task: Task) -> None:
        w.kill()
        self._workers[self._workers.index(w)] = _Worker(self._ctx, task)

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
            w.proc.join(1)
            if w.proc.is_alive():
                w.kill()
        self._workers = []
