"""migrate-opt: black-box optimization with language models.

The flagship optimizer is MiGrATe (mixed-policy GRPO for test-time adaptation) behind a
minimal ask/tell interface::

    opt = create("optimizer", "migrate", task, policy="smollm2-135m-instruct", seed=0)
    group = opt.ask()
    opt.tell(group, [my_eval(s) for s in group.solutions])

Importing this package does not import torch."""

from __future__ import annotations

from .config import MigrateConfig, SamplerSpec
from .errors import (
    AskError,
    BudgetExhausted,
    CheckpointError,
    ConfigError,
    EngineError,
    MigrateOptError,
    PluginError,
    StorageError,
    StudyLockedError,
    TaskError,
    TellError,
    UnknownNameError,
)
from .executors import Executor, ProcessConfig, ProcessExecutor, SerialExecutor
from .function_task import FunctionTask
from .grpo import GRPOConfig
from .hookspecs import hookimpl
from .loop import RunResult, run, warm_start
from .migrate import DEFAULT_MODEL, Migrate
from .optimizer import Optimizer
from .paths import cache_dir
from .policy.base import Generation, LoRAConfig, Policy, SamplingConfig, Updater
from .presets import PRESET_NAMES
from .registry import create, register_plugin, registry, unregister_plugin
from .samplers import Sampler, SamplerContext
from .storage import Database, MemoryDatabase, SQLiteDatabase
from .task import SearchSpace, Task, split_task_options
from .values import Candidate, Evaluation, Group, Member, Proposal, Record

__version__ = "0.1.0"

__all__ = [
    "AskError", "BudgetExhausted", "Candidate", "CheckpointError", "ConfigError", "DEFAULT_MODEL",
    "Database", "EngineError", "Evaluation", "StudyLockedError",
    "Executor", "FunctionTask", "GRPOConfig", "Generation", "Group", "LoRAConfig", "Member",
    "MemoryDatabase", "Migrate", "MigrateConfig", "MigrateOptError", "Optimizer",
    "PRESET_NAMES", "PluginError", "SamplerSpec",
    "Policy", "ProcessConfig", "ProcessExecutor", "Proposal", "Record", "RunResult",
    "SQLiteDatabase", "Sampler", "SamplerContext", "SamplingConfig", "SearchSpace",
    "SerialExecutor", "StorageError", "Task", "TaskError", "TellError", "UnknownNameError",
    "Updater", "cache_dir", "create", "hookimpl", "register_plugin", "registry", "run",
    "split_task_options", "unregister_plugin", "warm_start",
]
