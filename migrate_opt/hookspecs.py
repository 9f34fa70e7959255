"""Plugin hook specifications. Each hook receives a ``register(name, factory)`` callback.

Implementations may accept fewer arguments than a spec (pluggy's opt-in arguments), so specs
can grow without breaking plugins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pluggy

PROJECT = "migrate_opt"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

class Register(Protocol):
    """The callback every hook receives: ``register("semantle", SemantleTask,
    description="...")``. ``description`` is the line ``migrate-opt plugins`` shows;
    ``config`` is the dataclass an optimizer's factory takes as ``config=`` (its options as
    data, stored with every study it runs)."""

    def __call__(self, name: str, factory: Callable[..., Any], *, description: str = "",
                 config: type | None = None) -> None: ...


@hookspec
def register_tasks(register: Register) -> None:
    """Register task factories: ``register("semantle", SemantleTask)``."""


@hookspec
def register_samplers(register: Register) -> None:
    """Register group-member samplers (on_policy, greedy, neighborhood, ...)."""


@hookspec
def register_databases(register: Register) -> None:
    """Register databases; factories take ``(path: str | None, study: str)``."""


@hookspec
def register_policies(register: Register) -> None:
    """Register policy loaders; factories take keyword options."""


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizers; factories take ``(task, **options)``."""


@hookspec
def register_executors(register: Register) -> None:
    """Register evaluation executors (serial, process, ray)."""


@hookspec
def register_engines(register: Register) -> None:
    """Register generation engines (hf, openvino, vllm); factories take keyword options."""


KINDS: dict[str, str] = {
    "task": "register_tasks",
    "sampler": "register_samplers",
    "database": "register_databases",
    "policy": "register_policies",
    "optimizer": "register_optimizers",
    "executor": "register_executors",
    "engine": "register_engines",
}

__all__ = ["hookimpl", "hookspec", "KINDS", "PROJECT", "Register", "Any"]
