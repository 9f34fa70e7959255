"""What a study file carries for the command line: data, checked against a schema.

``run`` stores the settings that shape a study: the task and its data options, the method
and its config, the budget, the seed. ``resume`` rebuilds the run from them, checked like a
config file. Nothing else in a file is taken: whatever is a process, a connection, a
resource limit, isolation, code or a path (the executor and its options, the storage, the
engine and device, a task's environment options such as timeouts or isolation) comes from
the command line of whoever runs it, and ``resume`` names the stored ones it ignored."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from .cli_config import DEFAULTS, check_options, check_settings, factory_hints, shown
from .errors import ConfigError
from .task import split_task_options

STUDY_KEYS = (
    "task", "task_options", "method", "budget", "seed", "study", "iterations",
    "stop_when_solved", "patience", "model", "group_size", "group", "top_k", "dtype",
    "learning_rate", "steps_per_group", "temperature", "max_new_tokens", "lora_rank", "lora_alpha",
    "lora_targets", "grpo", "sampling", "lora", "init_adapter", "adaptive_mix",
    "sampler_options", "train", "sampled_from",
)
"""The settings stored with a study: the data that shapes it."""
FREE_TO_CHANGE = ("budget", "study", "iterations", "stop_when_solved", "patience",
                  "sampled_from")
"""Stored, yet no part of a study's identity: ``run`` may continue a study with others."""
NOT_RESUMED = ("init_adapter",)
"""Stored, never taken back: a path to read, and a resumed study has its own adapter."""
DISPLAY_ONLY = ("started_in", "storage", "resumed", "no_progress")
"""Where the study was started (shown by ``resume``, never opened) and older bookkeeping."""


def study_record(config: Mapping[str, Any], factory: Callable[..., Any]) -> dict[str, Any]:
    """What ``run`` stores with the study: its data, and where it was started (shown)."""
    record = {k: config[k] for k in STUDY_KEYS if config.get(k) not in (None, {})}
    record["task_options"] = split_task_options(factory, config.get("task_options") or {})[0]
    record["started_in"] = config.get("started_in") or config["storage"]
    return record


def identity(config: Mapping[str, Any], factory: Callable[..., Any]) -> dict[str, Any]:
    """The settings that make a study what it is (its scores mean the same throughout)."""
    out = {k: config[k] for k in STUDY_KEYS
           if k not in FREE_TO_CHANGE and config.get(k) not in (None, {}, False)}
    data = split_task_options(factory, config.get("task_options") or {})[0]
    if data:
        out["task_options"] = data
    return out


def default_study_name(config: Mapping[str, Any], factory: Callable[..., Any]) -> str:
    """``TASK-METHOD-sSEED``, with a short hash of the other settings that shape the study
    when any were given: a changed target or model is another study."""
    base = f"{config['task']}-{config['method']}-s{config['seed']}"
    rest = {k: v for k, v in identity(config, factory).items()
            if k not in ("task", "method", "seed")}
    if not rest:
        return base
    text = json.dumps(rest, sort_keys=True, default=str).encode()
    return f"{base}-{hashlib.sha256(text).hexdigest()[:6]}"


def differences(stored: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """``key (stored X, now Y)`` for each setting that differs; tables one level down."""
    out = []
    for key in sorted(set(stored) | set(given), key=str):
        a, b = stored.get(key), given.get(key)
        if isinstance(a or {}, Mapping) and isinstance(b or {}, Mapping) and (a or b):
            out += [f"{key}.{d}" for d in differences(a or {}, b or {})]
        elif a != b:
            out.append(f"{key} (stored {_unset(key, stored)}, now {_unset(key, given)})")
    return out


def _unset(key: str, table: Mapping[str, Any]) -> str:
    return shown(table[key], 30) if key in table else "unset"


def stored_run(
    raw: Any, study: str, where: str
) -> tuple[dict[str, Any], Callable[..., Any], list[str]]:
    """The run a study's stored settings describe, checked as data: ``(config, task
    factory, names of the stored settings ignored)``. Anything malformed is one
    :class:`ConfigError` line, raised before the study is touched."""
    from .registry import registry

    def bad(problem: str) -> ConfigError:
        return ConfigError(f"study {study!r} in {where} has malformed stored settings: "
                           f"{problem}; nothing was changed")

    if not isinstance(raw, Mapping):
        raise bad(f"they are {shown(raw)}, not a table")
    try:
        check_settings(raw)
    except ConfigError as exc:
        raise bad(str(exc)) from None
    if raw.get("study") not in (None, study):
        raise bad(f"they name study {shown(raw['study'])}")
    for key, kind in (("task", str), ("method", str), ("budget", int), ("seed", int)):
        if not isinstance(raw.get(key), kind):
            raise bad(f"{key} is missing")
    factory = registry().entry("task", raw["task"]).factory
    registry().entry("optimizer", raw["method"])
    data, environment = split_task_options(factory, dict(raw.get("task_options") or {}))
    try:
        check_options(f"task {raw['task']!r}", data, factory_hints(factory))
    except ConfigError as exc:
        raise bad(str(exc)) from None
    config = {**{k: DEFAULTS[k] for k in DEFAULTS},
              **{k: raw[k] for k in STUDY_KEYS if k in raw and k not in NOT_RESUMED},
              "task_options": data, "study": study}
    ignored = [k for k in raw if k not in STUDY_KEYS and k not in DISPLAY_ONLY
               and raw[k] not in (None, {}, DEFAULTS.get(k))]
    ignored += [k for k in NOT_RESUMED if raw.get(k) is not None]
    ignored += [f"task_options.{k}" for k in environment]
    return config, factory, sorted(ignored)
