"""Evaluations as Ray tasks, so an expensive objective (docking, program execution) spreads
over a cluster: ``migrate-opt run ... --executor ray --ray-address auto``.

Each batch of solutions is one Ray task with its own CPU request and timeout. A worker that
dies (killed, out of memory, node lost) is retried up to ``retries`` times with a fresh
timer; after that, and on a timeout, the solutions are marked invalid with the reason, so
every solution of a group gets exactly one evaluation. Ray is imported only here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..task import Task
from ..values import Evaluation
from . import Executor, safe_evaluate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayConfig:
    """Where and how evaluations run on Ray."""

    address: str | None = None
    """Cluster to join (``"auto"``, ``"ray://host:10001"``); None starts a local Ray, unless
    Ray is already initialised in this process, which is then used as it is."""
    num_cpus: float = 1.0
    """CPUs reserved by one evaluation task (raise it for multi-threaded objectives)."""
    num_gpus: float = 0.0
    """GPUs reserved by one evaluation task."""
    timeout: float | None = 600.0
    """Seconds one attempt may run, from the moment a worker starts it (queueing and worker
    start-up not counted), before it is cancelled (its worker is killed) and its solutions
    are marked invalid; None: no limit."""
    retries: int = 2
    """How many times a batch whose worker died is run again before it is marked invalid."""
    batch: int = 1
    """Solutions per Ray task (raise it for cheap objectives: a task costs milliseconds)."""
    max_in_flight: int | None = None
    """Tasks submitted at once; None: as many as the cluster's CPUs fit."""
    local_cpus: int | None = None
    """CPUs of a local Ray started by the executor (None: all of this machine's)."""
    log_to_driver: bool = False
    """Forward workers' stdout/stderr to this process (noisy next to a progress bar)."""
    init_options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``ray.init`` (runtime_env, namespace, ...)."""

    def __post_init__(self) -> None:
        if self.num_cpus < 0 or self.num_gpus < 0:
            raise ConfigError("num_cpus and num_gpus must be >= 0")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"timeout must be > 0 or None, got {self.timeout}")
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0, got {self.retries}")
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be >= 1 or None, got {self.max_in_flight}")
        if self.local_cpus is not None and self.local_cpus < 1:
            raise ConfigError(f"local_cpus must be >= 1 or None, got {self.local_cpus}")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "the ray executor needs Ray: pip install 'migrate-opt[ray]'"
        ) from exc
    return ray


def ensure_ray(config: RayConfig) -> bool:
    """Initialise Ray as ``config`` says unless it already is; True when this call started
    (or joined) it and so should shut it down."""
    ray = _import_ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {
        "address": config.address,
        "log_to_driver": config.log_to_driver,
        "include_dashboard": False,
        **config.init_options,
    }
    if config.address is None and config.local_cpus is not None:
        options["num_cpus"] = config.local_cpus
    log.info("starting Ray (address=%s)", config.address or "local")
    ray.init(**options)
    return True


def _evaluate_batch(task: Task, solutions: list[str]) -> Iterator[list[Evaluation] | None]:
    yield None  # "started": the driver times the attempt from here, not from submission
    yield safe_evaluate(task, solutions)


@dataclass
class _Job:
    """One batch of solution indices and its current attempt."""

    indices: list[int]
    attempt: int = 0
    stream: Any = None
    """The attempt's ObjectRefGenerator: a start marker, then the evaluations."""
    started: float | None = None
    """When the worker began the attempt (None: still queued or starting)."""


class RayExecutor(Executor):
    """Evaluations as Ray tasks with per-task CPUs, a timeout and retries on worker loss."""

    name = "ray"

    def __init__(self, config: RayConfig | None = None, **options: Any) -> None:
        if config is not None and options:
            raise ConfigError("give a RayConfig or keyword options, not both")
        try:
            self.config = config or RayConfig(**options)
        except TypeError as exc:
            raise ConfigError(f"bad ray executor option: {exc}") from None
        self._owns_ray = ensure_ray(self.config)
        ray = _import_ray()
        self._remote = ray.remote(_evaluate_batch).options(
            num_cpus=self.config.num_cpus, num_gpus=self.config.num_gpus,
            num_returns="streaming",
            max_retries=0,  # retries are ours: each attempt gets a fresh timer and a reason
        )
        self._task: Task | None = None
        self._task_ref: Any = None

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, task: Task, solutions: Sequence[str]) -> list[Evaluation]:
        if not solutions:
            return []
        self._put_task(task)
        b = self.config.batch
        waiting = [_Job(list(range(i, min(i + b, len(solutions))))) for i in
                   range(0, len(solutions), b)]
        results: list[Evaluation | None] = [None] * len(solutions)
        running: list[_Job] = []
        limit = self._slots()
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    running.append(self._submit(waiting.pop(0), solutions))
                for job in self._settle(running):
                    outcome = self._advance(job, solutions, results)
                    if outcome != "running":
                        running.remove(job)
                    if outcome == "retry":
                        waiting.insert(0, job)
        except BaseException:  # Ctrl-C: leave no evaluation running on the cluster
            for job in running:
                _import_ray().cancel(job.stream, force=True)
            raise
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _put_task(self, task: Task) -> None:
        if self._task is not task:  # ship the task once, not with every batch
            self._task, self._task_ref = task, _import_ray().put(task)

    def _slots(self) -> int:
        if self.config.max_in_flight is not None:
            return self.config.max_in_flight
        cpus = float(_import_ray().cluster_resources().get("CPU", 1))
        per = self.config.num_cpus or 1.0
        if cpus < per:
            log.warning("the cluster has %g CPUs but one evaluation asks for %g: it will wait "
                        "until a node that big joins", cpus, per)
        return max(1, int(cpus // per))

    def _submit(self, job: _Job, solutions: Sequence[str]) -> _Job:
        job.attempt += 1
        job.started = None
        job.stream = self._remote.remote(self._task_ref, [solutions[i] for i in job.indices])
        return job

    def _settle(self, running: list[_Job]) -> list[_Job]:
        """Wait until some job has news (started, finished, failed) or ran out of time."""
        ray = _import_ray()
        timeout = self.config.timeout
        deadlines = [j.started + timeout for j in running
                     if timeout is not None and j.started is not None]
        wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        streams = [j.stream for j in running]
        ray.wait(streams, num_returns=1, timeout=wait_for)
        ready, _ = ray.wait(streams, num_returns=len(streams), timeout=0)
        now = time.monotonic()
        return [j for j in running if j.stream in ready or (
            timeout is not None and j.started is not None and now - j.started >= timeout)]

    def _advance(
        self, job: _Job, solutions: Sequence[str], results: list[Evaluation | None]
    ) -> str:
        """Take a job's next step: "running" (it just started), "done" (results stored,
        or marked invalid) or "retry" (its worker was lost)."""
        ray = _import_ray()
        from ray import exceptions as rex

        ready, _ = ray.wait([job.stream], timeout=0)
        if not ready:
            ray.cancel(job.stream, force=True)  # kills the worker; a cancel is never retried
            return self._fail(job, f"timeout after {self.config.timeout:g} s", solutions,
                              results)
        try:
            out = ray.get(next(job.stream))
        except rex.RayTaskError as exc:  # raised inside the worker despite safe_evaluate
            return self._fail(job, f"evaluation task failed: {_first_line(exc)}", solutions,
                              results)
        except (rex.RayError, StopIteration) as exc:  # the worker or its node was lost
            reason = f"worker lost: {type(exc).__name__}: {_first_line(exc)}"
            if job.attempt <= self.config.retries:
                log.warning("%s; retrying (attempt %d of %d)", reason, job.attempt + 1,
                            self.config.retries + 1)
                return "retry"
            return self._fail(job, f"{reason} (after {job.attempt} attempts)", solutions,
                              results)
        if out is None:
            job.started = time.monotonic()
            return "running"
        for i, ev in zip(job.indices, out):
            results[i] = _with_attempts(ev, job.attempt)
        return "done"

    def _fail(
        self, job: _Job, reason: str, solutions: Sequence[str],
        results: list[Evaluation | None],
    ) -> str:
        log.warning("evaluation failed: %s", reason)
        for i in job.indices:
            results[i] = Evaluation.invalid(reason, solution=solutions[i],
                                            attempts=job.attempt)
        return "done"

    def close(self) -> None:
        self._task = self._task_ref = None
        if self._owns_ray:
            _import_ray().shutdown()
            self._owns_ray = False


def _with_attempts(ev: Evaluation, attempts: int) -> Evaluation:
    """Note a retried evaluation in its info (first attempts are left as they are)."""
    if attempts == 1:
        return ev
    return Evaluation(ev.score, {**ev.info, "attempts": attempts}, ev.solved)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def ray_map(
    fn: Callable[..., Any], items: Iterable[Any], config: RayConfig | None = None
) -> list[Any]:
    """``[fn(x) for x in items]`` as Ray tasks, in order (e.g. a benchmark grid of
    tasks x methods x seeds). Exceptions in ``fn`` propagate, as in the loop."""
    config = config or RayConfig()
    owns = ensure_ray(config)
    ray = _import_ray()
    try:
        remote = ray.remote(fn).options(num_cpus=config.num_cpus, num_gpus=config.num_gpus,
                                        max_retries=config.retries)
        return list(ray.get([remote.remote(x) for x in items]))
    finally:
        if owns:
            ray.shutdown()


__all__ = ["RayConfig", "RayExecutor", "ensure_ray", "ray_map"]
