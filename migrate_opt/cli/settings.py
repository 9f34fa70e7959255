"""What ``migrate-opt run`` turns its flags and ``--config FILE.toml`` into: one mapping
with the run (task, optimizer, config, seed, budget) and the environment (storage,
executor), the optimizer's ``config`` in :class:`~migrate_opt.MigrateConfig`'s own form. A
short alias table maps the familiar flags onto config keys (``--learning-rate`` is
``grpo.learning_rate``); ``--set grpo.kl_coef=0.1`` reaches any other.

Options of tasks, samplers and executors come from their factories' signatures, coerced
by the type hints, so a plugin's options work from the command line with no code here."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..configs import accepts, check_options, check_value, factory_hints, shown
from ..errors import ConfigError
from ..loop import DEFAULT_PATIENCE

RUN_DEFAULTS: dict[str, Any] = {
    "method": "migrate", "budget": 100, "iterations": None, "storage": "runs/migrate.db",
    "study": None, "seed": 0, "executor": "serial", "stop_when_solved": True,
    "patience": DEFAULT_PATIENCE, "no_progress": False, "task_options": {},
    "executor_options": {},
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
    return {name: _base_type(str if hint is Any else hint)
            for name, hint in factory_hints(factory).items()}


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
        out = kind(value)
    except ValueError:
        raise ConfigError(f"--{key} expects {kind.__name__}, got {value!r}") from None
    if kind is float and not math.isfinite(out):
        raise ConfigError(f"--{key} expects a finite number, got {value!r}")
    return out


SETTING_TYPES: dict[str, Any] = {
    "method": str, "budget": int, "iterations": int, "storage": str, "study": str, "seed": int,
    "executor": str, "stop_when_solved": bool, "patience": int, "no_progress": bool,
    "task": str,
    "task_options": Mapping, "executor_options": Mapping, "sampler_options": Mapping,
    "model": str, "engine": str, "group_size": int, "group": Mapping, "top_k": int,
    "device": str, "dtype": str, "learning_rate": float, "steps_per_group": int,
    "temperature": float, "max_new_tokens": int, "lora_rank": int, "lora_alpha": int,
    "lora_targets": str | Sequence[str], "grpo": Mapping, "sampling": Mapping,
    "lora": Mapping, "policy": str | Mapping, "init_adapter": str,
    "adaptive_mix": bool | Mapping, "train": bool,
}
"""What each top-level setting of a config file must hold (None: not set), so a mistyped
value is one line; the tables' fields are checked by their config dataclasses."""


def check_settings(settings: Mapping[str, Any]) -> None:
    """The settings' top-level values are of the types they must be."""
    for key, value in settings.items():
        if key in SETTING_TYPES:
            check_value(key, SETTING_TYPES[key] | None, value)
    for name, spec in (settings.get("group") or {}).items():
        if not (accepts(int, spec) or isinstance(spec, Mapping)):
            raise ConfigError(f"group entry {name!r} must be a count or a table with n, got "
                              f"{shown(spec)}")
    for name, options in (settings.get("sampler_options") or {}).items():
        if not isinstance(options, Mapping):
            raise ConfigError(f"sampler_options.{name} must be a table, got {shown(options)}")


def check_sampler_options(config: Mapping[str, Any]) -> None:
    """Options given to samplers (in ``group`` entries and ``sampler_options``) are the
    registered samplers' own, of the types their factories take."""
    from ..registry import registry

    group = config.get("group") or {}
    tables = [(name, {k: v for k, v in spec.items() if k != "n"} if isinstance(spec, Mapping)
               else {}) for name, spec in group.items()]
    tables += list((config.get("sampler_options") or {}).items())
    for name, options in tables:
        factory = registry().entry("sampler", str(name)).factory
        check_options(f"sampler {name!r}", options, factory_hints(factory))


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
    except RecursionError:
        raise ConfigError(f"config file {path} is nested too deeply") from None
    data = {k.replace("-", "_"): v for k, v in raw.items()}
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} in {path}; known: "
                          f"{', '.join(sorted(set(FILE_KEYS)))}")
    for table in ("task_options", "executor_options", "group", "grpo", "sampling", "lora",
                  "sampler_options"):
        if table in data and not isinstance(data[table], Mapping):
            raise ConfigError(f"{table} in {path} must be a table ([{table}])")
    try:
        check_settings(data)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in {path})") from None
    return data
