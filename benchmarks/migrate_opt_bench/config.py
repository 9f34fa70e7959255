"""The grid a benchmark config describes: its tasks, methods and seeds, and the cells (runs)
they make. ``config_file`` reads them from TOML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from migrate_opt import ConfigError

LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
HOOK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
"""An importable ``package.module:function`` (never a file path: configs run no files)."""


@dataclass(frozen=True)
class TaskSpec:
    """One task of the grid."""

    label: str
    """Name in tables, plots and file names."""
    task: str
    """Registered task name (``migrate-opt plugins`` lists them)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options of the task's constructor."""
    metrics: str | None = None
    """Metric hook ``package.module:function``: ``function(task, records)`` returns extra
    numbers for the run (ARC: ``migrate_opt_arc:prediction_metrics``, pass@1/pass@2)."""
    seed_options: tuple[str, ...] = ()
    """Options set to the run's seed (e.g. Semantle's ``target_seed``: each seed meets
    another random target, and a method and its untrained twin meet the same ones)."""
    max_iterations: int | None = None
    """Cap on the groups of every LLM method on this task (the smaller of this and the
    method's cap applies): a task where a small model's samples mostly repeat or fail
    would otherwise take hours to spend its budget of new valid solutions."""

    def __post_init__(self) -> None:
        if self.max_iterations is not None and self.max_iterations < 1:
            raise ConfigError(f"task {self.label!r}: max_iterations must be >= 1")
        if self.metrics is not None and not HOOK.match(self.metrics):
            raise ConfigError(f"task {self.label!r}: metrics must name an installed function "
                              f"as package.module:function, got {self.metrics!r}")


@dataclass(frozen=True)
class MethodSpec:
    """One method of the grid: a registered optimizer and its config, as ``create`` takes
    it (``optimizer = "migrate", config = { group_size = 8, grpo = { ... } }``)."""

    label: str
    """Name in tables, plots and file names."""
    optimizer: str
    """Registered optimizer: an LLM preset (sample, opro, grpo, migrate, ...) or a baseline
    (random-search, ga, optuna-tpe, ...); ``migrate-opt methods`` lists them."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """The optimizer's options: for an LLM preset, MigrateConfig's fields (group, train,
    grpo, sampling, policy = { name, lora, engine, options }, ...) and the preset's
    shorthands group_size, top_k, sampler_options; for a baseline, its own."""
    tasks: tuple[str, ...] = ()
    """Task labels this method runs on; empty: all tasks."""
    task_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per task label, config keys that replace ``config``'s on that task (e.g. a
    categorical pool on one task and the continuous encoding on another)."""
    max_iterations: int | None = None
    """Also stop after this many groups (bounds the CPU an LLM method may spend when its
    samples repeat); the curve is padded to the budget like any early stop."""
    adapter_from: AdapterSource | None = None
    """Start each run's LoRA adapter from another cell's last checkpoint (the transfer
    probe); None: a fresh adapter. The method runs on the tasks it has sources for unless
    ``tasks`` says otherwise."""

    def __post_init__(self) -> None:
        if not isinstance(self.optimizer, str) or not self.optimizer:
            raise ConfigError(f"method {self.label!r}: `optimizer` names a registered "
                              "optimizer (`migrate-opt methods` lists them)")
        from migrate_opt import UnknownNameError, registry

        try:
            registry().entry("optimizer", self.optimizer)
        except UnknownNameError as exc:
            raise ConfigError(f"method {self.label!r}: {exc.args[0]}") from None
        if not isinstance(self.task_options, Mapping) or not all(
            isinstance(v, Mapping) for v in self.task_options.values()
        ):
            raise ConfigError(f"method {self.label!r}: task_options maps task labels to tables")
        if self.max_iterations is not None and self.max_iterations < 1:
            raise ConfigError(f"method {self.label!r}: max_iterations must be >= 1")
        if self.adapter_from is not None and not self.llm:
            raise ConfigError(f"method {self.label!r}: adapter_from applies to LLM presets "
                              "that train")
        _check_config(self)

    @property
    def llm(self) -> bool:
        """Whether the optimizer is an LLM preset (its registry entry takes a config)."""
        from migrate_opt import registry

        return registry().entry("optimizer", self.optimizer).config is not None


@dataclass(frozen=True)
class AdapterSource:
    """Where a method's runs take their starting adapter: the run of ``method`` on the task
    ``tasks[label]`` with the same seed (its ``runs/<key>.db``, which must have finished or
    at least checkpointed first)."""

    method: str
    """Label of the source method (it may be left out of this invocation: its runs are read
    from disk)."""
    tasks: Mapping[str, str]
    """Task label -> the label of the task whose run gives the adapter."""

    def __post_init__(self) -> None:
        if not LABEL.match(self.method) or not self.tasks or not all(
            isinstance(k, str) and isinstance(v, str) and k != v for k, v in self.tasks.items()
        ):
            raise ConfigError("adapter_from needs `method` (a method label) and `tasks` (a "
                              "table mapping each task label to another task's label)")

    def key(self, task: str, seed: int) -> str:
        """File-name stem of the run that gives ``task``'s adapter on ``seed``."""
        return f"{self.tasks[task]}__{self.method}__seed{seed}"


def _check_config(m: MethodSpec) -> None:
    """A grid entry whose config cannot work fails here, when the file is parsed, before
    any run loads a model."""
    from migrate_opt.migrate.factory import check_options

    try:
        if m.llm:
            for config in (m.config, *({**m.config, **o} for o in m.task_options.values())):
                check_options(m.optimizer, config)
    except ConfigError as exc:
        raise ConfigError(f"method {m.label!r}: {exc}") from exc


@dataclass(frozen=True)
class Cell:
    """One run: a task, a method and a seed."""

    task: TaskSpec
    method: MethodSpec
    seed: int
    budget: int
    log_every: int
    stop_when_solved: bool = False

    @property
    def task_options(self) -> dict[str, Any]:
        """The task's options on this cell's seed."""
        return {**self.task.options, **dict.fromkeys(self.task.seed_options, self.seed)}

    @property
    def options(self) -> dict[str, Any]:
        """The method's config on this cell's task."""
        return {**self.method.config, **self.method.task_options.get(self.task.label, {})}

    @property
    def max_iterations(self) -> int | None:
        """The cap on groups: the method's, and on an LLM method also the task's (the
        smaller applies)."""
        task_cap = self.task.max_iterations if self.method.llm else None
        caps = [c for c in (task_cap, self.method.max_iterations) if c is not None]
        return min(caps) if caps else None

    @property
    def key(self) -> str:
        """File-name stem of the run's database and metrics."""
        return f"{self.task.label}__{self.method.label}__seed{self.seed}"

    @property
    def adapter_source(self) -> str | None:
        """File-name stem of the run whose adapter this run starts from, if any."""
        source = self.method.adapter_from
        return None if source is None else source.key(self.task.label, self.seed)


@dataclass(frozen=True)
class BenchmarkConfig:
    """A whole grid."""

    name: str
    """Names the output folder (``benchmarks/results/<name>`` by default)."""
    budget: int
    """Evaluations of new unique solutions per run (the PMO convention)."""
    seeds: tuple[int, ...]
    """Seeds of every (task, method) pair."""
    tasks: tuple[TaskSpec, ...]
    methods: tuple[MethodSpec, ...]
    log_every: int = 10
    """Best-so-far is logged every this many evaluations (AUC and plots)."""
    workers: int = 2
    """Runs executing at once in local processes."""
    stop_when_solved: bool = False
    """End a run when the task's optimum is reached (the rest is padded with the best)."""
    families: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Named sets of task labels (``paired --config`` reports per family)."""

    def __post_init__(self) -> None:
        if self.budget < 1 or self.log_every < 1 or self.workers < 1:
            raise ConfigError("budget, log_every and workers must be >= 1")
        if not self.seeds or not self.tasks or not self.methods:
            raise ConfigError("a benchmark needs at least one seed, task and method")
        labels = {t.label for t in self.tasks}
        for name, members in self.families.items():
            if not members or set(members) - labels:
                raise ConfigError(f"family {name!r} needs task labels of this config, got "
                                  f"{list(members)}")
        for m in self.methods:
            carried = set(m.adapter_from.tasks) if m.adapter_from else set()
            unknown = (set(m.tasks) | set(m.task_options) | carried) - labels
            if unknown:
                raise ConfigError(f"method {m.label!r} names unknown tasks {sorted(unknown)}")
            sourceless = set(m.tasks) - carried if m.adapter_from else set()
            if sourceless:
                raise ConfigError(f"method {m.label!r}: adapter_from gives no source for tasks "
                                  f"{sorted(sourceless)}")

    def cells(self) -> list[Cell]:
        """Every run of the grid, task-major (so partial results cover whole tasks)."""
        return [
            Cell(t, m, seed, self.budget, self.log_every, self.stop_when_solved)
            for t in self.tasks
            for m in self.methods
            if not m.tasks or t.label in m.tasks
            for seed in self.seeds
        ]
