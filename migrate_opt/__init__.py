"""migrate-opt: black-box optimization with language models.

The flagship optimizer is MiGrATe (mixed-policy GRPO for test-time adaptation) behind a
minimal ask/tell interface::

    opt = create("optimizer", "migrate", task, policy="smollm2-135m-instruct", seed=0)
    group = opt.ask()
    opt.tell(group, [my_eval(s) for s in group.solutions])

Importing this package does not import torch."""

from __future__ import annotations

from typing import Any

from .engines import fastest_engine
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
from .factory import (
    create_engine,
    create_executor,
    create_optimizer,
    create_policy,
    create_sampler,
    create_task,
    load_policy,
    open_database,
)
from .grpo import GRPOConfig
from .hookspecs import hookimpl
from .loop import RunResult, run, warm_start
from .metrics import evaluations_to_solve
from .migrate import DEFAULT_MODEL, Migrate
from .migrate.config import MigrateConfig, SamplerSpec
from .migrate.presets import PRESET_NAMES
from .optimizer import Optimizer
from .paths import cache_dir
from .policy.base import Generation, LoRAConfig, Policy, SamplingConfig, Updater
from .registry import create, register_plugin, registry, unregister_plugin
from .samplers import Sampler, SamplerContext
from .storage import Database, MemoryDatabase, SQLiteDatabase
from .task import PromptSpec, SearchSpace, Task, split_task_options
from .task.function import FunctionTask
from .task.grammar import Grammar
from .values import Candidate, Evaluation, Group, Member, Proposal, Record

__version__ = "0.1.0"

__all__ = [
    "AskError", "BudgetExhausted", "Candidate", "CheckpointError", "ConfigError", "DEFAULT_MODEL",
    "Database", "EngineError", "Evaluation", "StudyLockedError",
    "Executor", "FunctionTask", "GRPOConfig", "Generation", "Group", "LoRAConfig", "Member",
    "MemoryDatabase", "Migrate", "MigrateConfig", "MigrateOptError", "Optimizer",
    "PRESET_NAMES", "PluginError", "SamplerSpec",
    "Policy", "ProcessConfig", "ProcessExecutor", "PromptSpec", "Proposal", "Record", "RunResult",
    "SQLiteDatabase", "Sampler", "SamplerContext", "SamplingConfig", "SearchSpace",
    "SerialExecutor", "StorageError", "Task", "TaskError", "TellError", "UnknownNameError",
    "Updater", "cache_dir", "create", "create_engine", "create_executor", "create_optimizer",
    "create_policy", "create_sampler", "create_task", "evaluations_to_solve", "fastest_engine",
    "hookimpl",
    "load_policy", "open_database", "register_plugin", "registry", "run",
    "split_task_options", "unregister_plugin", "warm_start", "Grammar",
]


def _moved(old_module: str, name: str, new: str, target: Any) -> None:
    """Keep ``old_module.name`` working for one release: it warns once, naming ``new``."""
    import functools
    import sys
    import warnings

    warned = False

    @functools.wraps(target)
    def alias(*args: Any, **kwargs: Any) -> Any:
        nonlocal warned
        if not warned:
            warned = True
            warnings.warn(f"{old_module}.{name} moved: use {new}", DeprecationWarning,
                          stacklevel=2)
        return target(*args, **kwargs)

    setattr(sys.modules[old_module], name, alias)


# The face installs the old spellings, so the packages below need no upward import.
_moved("migrate_opt.policy", "load_policy", "migrate_opt.load_policy", load_policy)
