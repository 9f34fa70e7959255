"""What ``migrate-opt run`` turns its flags and ``--config FILE.toml`` into: one flat,
JSON-able settings dict (stored with the study, so ``resume`` rebuilds the same run), and
the optimizer and executor it describes, built through the registry.

Options of tasks, samplers and executors come from their factories' signatures, coerced
by the type hints, so a plugin's options work from the command line with no code here."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import ConfigError

DEFAULTS: dict[str, Any] = {
    "method": "migrate", "budget": 100, "iterations": None, "storage": "runs/migrate.db",
    "study": None, "seed": 0, "executor": "serial", "stop_when_solved": False,
    "no_progress": False, "task_options": {}, "executor_options": {}, "sampler_options": {},
}
LLM_KEYS = ("model", "engine", "group_size", "group", "top_k", "device", "dtype", "learning_rate",
            "steps_per_group", "temperature", "max_new_tokens", "lora_rank", "lora_alpha",
            "lora_targets", "grpo", "sampling", "lora", "init_adapter", "adaptive_mix")
"""Settings only LLM presets take."""
TABLES = ("task_options", "executor_options", "sampler_options", "group", "grpo", "sampling",
          "lora")
FILE_KEYS = (*DEFAULTS, *LLM_KEYS, "task")


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
    from .registry import registry

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
    """A TOML file holding the same settings as the flags (``[grpo]``, ``[group]``, ...)."""
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
    for table in TABLES:
        if table in data and not isinstance(data[table], Mapping):
            raise ConfigError(f"{table} in {path} must be a table ([{table}])")
    return data


# -- what the settings build ---------------------------------------------------------------
def llm_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The LLM preset options the settings give (only those that were set)."""
    def given(*keys: str, table: str) -> dict[str, Any]:
        out = dict(config.get(table) or {})
        out.update({k: config[k] for k in keys if config.get(k) is not None})
        return out

    lora = dict(config.get("lora") or {})
    for key, field in (("lora_rank", "rank"), ("lora_alpha", "alpha"),
                       ("lora_targets", "target_modules")):
        if config.get(key) is not None:
            lora[field] = config[key]
    if isinstance(lora.get("target_modules"), str):
        lora["target_modules"] = tuple(t.strip() for t in lora["target_modules"].split(","))
    options = {k: config[k] for k in ("model", "engine", "group_size", "group", "top_k",
                                      "device", "dtype", "init_adapter")
               if config.get(k) is not None}
    options.update(grpo=given("learning_rate", "steps_per_group", table="grpo"),
                   sampling=given("temperature", "max_new_tokens", table="sampling"),
                   lora=lora, sampler_options=dict(config.get("sampler_options") or {}))
    options = {k: v for k, v in options.items() if v not in ({}, None)}
    mix = config.get("adaptive_mix")
    if mix:  # true (the defaults) or a table; MigrateConfig checks its fields
        options["adaptive_mix"] = dict(mix) if isinstance(mix, Mapping) else {}
    return options


def build_optimizer(config: Mapping[str, Any], db: Any) -> Any:
    """The optimizer a settings dict describes, through ``create``."""
    from .registry import create, registry

    task = create("task", config["task"], **config.get("task_options", {}))
    entry = registry().entry("optimizer", config["method"])
    options = llm_options(config)
    if config.get("resumed") and getattr(entry.factory, "preset", None) is None:
        options = {}  # older versions stored LLM defaults with every study
    if options and getattr(entry.factory, "preset", None) is None:
        flags = ", ".join(sorted(options))
        raise ConfigError(f"{flags} apply to LLM presets, and {config['method']!r} is not one")
    if getattr(entry.factory, "preset", None) is not None:
        from .config import DEFAULT_MODEL
        from .engines import with_fastest_engine

        # not stored: a resume picks the fastest engine installed where it runs
        options = with_fastest_engine(options.get("model", DEFAULT_MODEL), options)
    return create("optimizer", config["method"], task, database=db, seed=config["seed"],
                  budget=config["budget"], **options)


def build_executor(config: Mapping[str, Any]) -> Any:
    from .registry import create

    return create("executor", config.get("executor", "serial"),
                  **dict(config.get("executor_options") or {}))
