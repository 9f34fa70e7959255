"""What ``migrate-opt run`` turns its flags and ``--config FILE.toml`` into: one mapping
with the run (task, optimizer, config, seed, budget) and the environment (storage,
executor), the optimizer's ``config`` in :class:`~migrate_opt.MigrateConfig`'s own form. A
short alias table maps the familiar flags onto config keys (``--learning-rate`` is
``grpo.learning_rate``); ``--set grpo.kl_coef=0.1`` reaches any other.

Options of tasks, samplers and executors come from their factories' signatures, coerced
by the type hints, so a plugin's options work from the command line with no code here."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError

RUN_DEFAULTS: dict[str, Any] = {
    "method": "migrate", "budget": 100, "iterations": None, "storage": "runs/migrate.db",
    "study": None, "seed": 0, "executor": "serial", "stop_when_solved": False,
    "no_progress": False, "task_options": {}, "executor_options": {},
}
"""Settings of the run and its environment, not of the optimizer."""
ALIASES: dict[str, str] = {
    "model": "policy.name", "engine": "policy.engine", "device": "policy.device",
    "dtype": "policy.dtype", "lora": "policy.lora", "lora_rank": "policy.lora.rank",
    "lora_alpha": "policy.lora.alpha", "lora_targets": "policy.lora.target_modules",
    "learning_rate": "grpo.learning_rate", "steps_per_group": "grpo.steps_per_group",
    "temperature": "sampling.temperature", "max_new_tokens": "sampling.max_new_tokens",
}
"""Flags (and flat ``--config`` keys) that name a config key."""
CONFIG_KEYS = ("group", "group_size", "top_k", "sampler_options", "train", "grpo", "sampling",
               "policy", "adaptive_mix", "init_adapter")
"""Config keys a ``--config`` file or a flag may give as they are."""
FILE_KEYS = (*RUN_DEFAULTS, *ALIASES, *CONFIG_KEYS, "task")


def run_spec(file: Mapping[str, Any], flags: Mapping[str, Any],
             sets: Sequence[str] = ()) -> dict[str, Any]:
    """Defaults, then the ``--config`` file, then the flags, then ``--set`` pairs, as one
    mapping: the run's settings at the top and the optimizer's under ``config``."""
    out: dict[str, Any] = {**RUN_DEFAULTS, "config": {}}
    for source in (file, flags):
        for key, value in source.items():
            if key in ALIASES:
                _put(out["config"], ALIASES[key], value)
            elif key in CONFIG_KEYS:
                _put(out["config"], key, value)
            elif key in ("task_options", "executor_options"):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
    for pair in sets:
        key, value = _assignment(pair, "--set", "grpo.kl_coef=0.1")
        _put(out["config"], key, value)
    mix = out["config"].get("adaptive_mix")
    if mix is True:  # the flag: the defaults
        out["config"]["adaptive_mix"] = {}
    elif mix is False:
        del out["config"]["adaptive_mix"]
    targets = out["config"].get("policy", {}).get("lora", {}).get("target_modules")
    if isinstance(targets, str):
        out["config"]["policy"]["lora"]["target_modules"] = [
            t.strip() for t in targets.split(",") if t.strip()]
    return out


def _put(config: dict[str, Any], dotted: str, value: Any) -> None:
    """``config[a][b] = value`` for ``a.b``; tables merge into tables."""
    *path, last = dotted.split(".")
    for part in path:
        inner = config.get(part)
        if isinstance(inner, str) and part == "policy":
            inner = {"name": inner}  # policy = "tiny-random": a bare name
        if not isinstance(inner, dict):
            inner = dict(inner) if isinstance(inner, Mapping) else {}
        config[part] = inner
        config = inner
    if isinstance(value, Mapping) and isinstance(config.get(last), Mapping):
        value = {**config[last], **value}
    config[last] = dict(value) if isinstance(value, Mapping) else value


def _assignment(pair: str, flag: str, example: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a TOML value (``0.1``, ``true``, ``[1, 2]``), or
    else as a string."""
    import tomllib

    key, sep, raw = pair.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} {pair!r} must look like KEY=VALUE, e.g. {example}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip().replace("-", "_"), value


# -- option types from factories -----------------------------------------------------------
def factory_options(factory: Callable[..., Any]) -> dict[str, Any]:
    """Keyword options of ``factory`` and their base types (int, float, bool, str). A
    ``config`` parameter holding a dataclass contributes that dataclass's fields."""
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    out: dict[str, Any] = {}
    for name, param in inspect.signature(factory).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(name, str)
        config = _dataclass_in(hint)
        if name == "config" and config is not None:
            config_hints = typing.get_type_hints(config)
            out.update({f.name: _base_type(config_hints.get(f.name, str))
                        for f in dataclasses.fields(config) if f.init})
            continue
        out[name] = _base_type(hint)
    return out


def _dataclass_in(hint: Any) -> type | None:
    for h in (hint, *typing.get_args(hint)):
        if inspect.isclass(h) and dataclasses.is_dataclass(h):
            return h
    return None


def _base_type(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, getattr(types, "UnionType", None)):
        return _base_type(args[0]) if args else str
    return hint if hint in (int, float, bool, str) else str


def coerce(value: str, kind: Any, key: str) -> Any:
    if value.lower() in ("none", "null") and kind is not str:
        return None
    try:
        if kind is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return kind(value)
    except ValueError:
        raise ConfigError(f"--{key} expects {kind.__name__}, got {value!r}") from None


def key_values(pairs: Sequence[str], factory: Callable[..., Any], what: str) -> dict[str, Any]:
    """``["workers=4", "timeout=30"]`` as options of ``factory``, coerced by its hints."""
    params = factory_options(factory)
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"{what} option {pair!r} must look like KEY=VALUE")
        if key not in params:
            accepted = ", ".join(params) or "none"
            raise ConfigError(f"unknown {what} option {key!r}; it accepts: {accepted}")
        out[key] = coerce(value.strip(), params[key], key)
    return out


def parse_group(text: str) -> dict[str, int]:
    """``"on_policy=4,my-sampler=4"`` -> ``{"on_policy": 4, "my-sampler": 4}``."""
    group: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, count = part.partition("=")
        if not sep or not count.strip().isdigit():
            raise ConfigError(f"--group entry {part!r} must look like SAMPLER=COUNT, e.g. "
                              "on_policy=4,neighborhood=2")
        group[name.strip()] = int(count)
    if not group:
        raise ConfigError("--group needs at least one SAMPLER=COUNT")
    return group


def parse_sampler_options(pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["neighborhood.top_k=3"]`` -> ``{"neighborhood": {"top_k": 3}}``, coerced by the
    registered sampler's type hints."""
    from ..registry import registry

    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        sampler, dot, rest = pair.partition(".")
        if not dot or "=" not in rest:
            raise ConfigError(f"--sampler-option {pair!r} must look like SAMPLER.KEY=VALUE, "
                              "e.g. neighborhood.top_k=3")
        factory = registry().entry("sampler", sampler).factory
        out.setdefault(sampler, {}).update(key_values([rest], factory, f"sampler {sampler!r}"))
    return out


# -- the config file -----------------------------------------------------------------------
def read_config_file(path: str) -> dict[str, Any]:
    """A TOML file holding the same settings as the flags (``[grpo]``, ``[group]``,
    ``[policy]``, ...)."""
    import tomllib

    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    data = {k.replace("-", "_"): v for k, v in raw.items()}
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} in {path}; known: "
                          f"{', '.join(sorted(set(FILE_KEYS)))}")
    for table in ("task_options", "executor_options", "group", "grpo", "sampling", "lora",
                  "sampler_options"):
        if table in data and not isinstance(data[table], Mapping):
            raise ConfigError(f"{table} in {path} must be a table ([{table}])")
    return data
