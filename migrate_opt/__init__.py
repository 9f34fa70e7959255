"""migrate-opt: black-box optimization with language models.

The flagship optimizer is MiGrATe (mixed-policy GRPO for test-time adaptation) behind a
minimal ask/tell interface::

    opt = Migrate(task, policy="smollm2-135m-instruct", method="migrate", seed=0)
    group = opt.ask()
    opt.tell(group, [my_eval(s) for s in group.solutions])

Importing this package does not import torch."""

from __future__ import annotations

from .errors import (
    BudgetExhausted,
    ConfigError,
    EngineError,
    MigrateOptError,
    PluginError,
    StorageError,
    TaskError,
    TellError,
    UnknownNameError,
)
from .executors import Executor, ProcessConfig, ProcessExecutor, SerialExecutor
from .grpo import GRPOConfig
from .hookspecs import hookimpl
from .loop import RunResult, run, warm_start
from .migrate import DEFAULT_MODEL, Migrate
from .optimizer import Optimizer
from .policy.base import Generation, Policy, SamplingConfig, Updater
from .presets import METHOD_NAMES, GroupConfig, Method, method
from .registry import create, register_plugin, registry, unregister_plugin
from .samplers import Sampler, SamplerContext
from .storage import Database, MemoryDatabase, SQLiteDatabase
from .task import SearchSpace, Task
from .values import Candidate, Evaluation, Group, Member, Proposal, Record

__version__ = "0.1.0"

__all__ = [
    "BudgetExhausted", "Candidate", "ConfigError", "DEFAULT_MODEL", "Database", "EngineError",
    "Evaluation",
    "Executor", "GRPOConfig", "Generation", "Group", "GroupConfig", "METHOD_NAMES", "Member",
    "MemoryDatabase", "Method", "Migrate", "MigrateOptError", "Optimizer", "PluginError",
    "Policy", "ProcessConfig", "ProcessExecutor", "Proposal", "Record", "RunResult",
    "SQLiteDatabase", "Sampler", "SamplerContext", "SamplingConfig", "SearchSpace",
    "SerialExecutor", "StorageError", "Task", "TaskError", "TellError", "UnknownNameError",
    "Updater", "create", "hookimpl", "method", "register_plugin", "registry", "run",
    "unregister_plugin", "warm_start",
]
