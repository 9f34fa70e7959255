"""What ``migrate-opt run`` turns its flags and ``--config FILE.toml`` into: one flat,
JSON-able settings dict (stored with the study, so ``resume`` rebuilds the same run), and
the optimizer and executor it describes, built through the registry.

Options of tasks, samplers and executors come from their factories' signatures, coerced
by the type hints, so a plugin's options work from the command line with no code here."""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import ConfigError
from .loop import DEFAULT_PATIENCE

DEFAULTS: dict[str, Any] = {
    "method": "migrate", "budget": 100, "iterations": None, "storage": "runs/migrate.db",
    "study": None, "seed": 0, "executor": "serial", "stop_when_solved": True,
    "patience": DEFAULT_PATIENCE,
    "no_progress": False, "task_options": {}, "executor_options": {}, "sampler_options": {},
}
LLM_KEYS = ("model", "engine", "group_size", "group", "top_k", "device", "dtype", "learning_rate",
            "steps_per_group", "temperature", "max_new_tokens", "lora_rank", "lora_alpha",
            "lora_targets", "grpo", "sampling", "lora", "init_adapter", "adaptive_mix", "train")
"""Settings only LLM presets take."""
TABLES = ("task_options", "executor_options", "sampler_options", "group", "grpo", "sampling",
          "lora")
FILE_KEYS = (*DEFAULTS, *LLM_KEYS, "task")
SETTING_TYPES: dict[str, Any] = {
    "method": str, "budget": int, "iterations": int, "storage": str, "study": str, "seed": int,
    "executor": str, "stop_when_solved": bool, "patience": int, "no_progress": bool,
    "task": str,
    "task_options": Mapping, "executor_options": Mapping, "sampler_options": Mapping,
    "model": str, "engine": str, "group_size": int, "group": Mapping, "top_k": int,
    "device": str, "dtype": str, "learning_rate": float, "steps_per_group": int,
    "temperature": float, "max_new_tokens": int, "lora_rank": int, "lora_alpha": int,
    "lora_targets": str | Sequence[str], "grpo": Mapping, "sampling": Mapping,
    "lora": Mapping, "init_adapter": str, "adaptive_mix": bool | Mapping, "train": bool,
    "sampled_from": str,
}
"""What each setting must hold (None: not set), checked for a config file and for the
settings a study file stores, so a mistyped value is one line and never a traceback."""


# -- option types from factories -----------------------------------------------------------
def factory_options(factory: Callable[..., Any]) -> dict[str, Any]:
    """Keyword options of ``factory`` and their base types (int, float, bool, str). A
    ``config`` parameter holding a dataclass contributes that dataclass's fields."""
    return {name: _base_type(str if hint is Any else hint)
            for name, hint in factory_hints(factory).items()}


def factory_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    """Keyword options of ``factory`` and their full type hints (Any where none is given);
    a ``config`` parameter holding a dataclass contributes that dataclass's fields."""
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    out: dict[str, Any] = {}
    for name, param in inspect.signature(factory).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(name, Any)
        config = _dataclass_in(hint)
        if name == "config" and config is not None:
            out.update(dataclass_hints(config))
            continue
        out[name] = hint
    return out


def dataclass_hints(kind: type) -> dict[str, Any]:
    """The init fields of a config dataclass and their type hints."""
    hints = typing.get_type_hints(kind)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(kind) if f.init}


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
        out = kind(value)
    except ValueError:
        raise ConfigError(f"--{key} expects {kind.__name__}, got {value!r}") from None
    if kind is float and not math.isfinite(out):
        raise ConfigError(f"--{key} expects a finite number, got {value!r}")
    return out


# -- typed values (a config file, a study's stored settings) --------------------------------
_UNIONS = (typing.Union, getattr(types, "UnionType", None))
_SCALARS: dict[Any, Callable[[Any], bool]] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)
                      and math.isfinite(v)),
    str: lambda v: isinstance(v, str),
}


def accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` is what ``hint`` describes; numbers must be finite, and a value
    with no hint must be plain (text, a number, a flag, or a list of those)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in _UNIONS:
        return any(accepts(h, value) for h in args)
    if value is None or hint is type(None):
        return value is None and (hint is type(None) or hint is Any)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    if origin in (tuple, list, Sequence) and args:
        if args[0] is str and isinstance(value, str):
            return True  # one name for a list of names (LoRA target_modules)
        return isinstance(value, (list, tuple)) and all(accepts(args[0], v) for v in value)
    if hint is Mapping or origin is Mapping:
        return isinstance(value, Mapping)
    plain = str | float | bool
    if isinstance(value, (list, tuple)):
        return all(accepts(plain, v) for v in value)
    return accepts(plain, value)


def describe(hint: Any) -> str:
    """``hint`` in words, for an error message."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(types, "UnionType", None)):
        return " or ".join(describe(h) for h in args if h is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (tuple, list, Sequence):
        return "a list"
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "text",
            Mapping: "a table"}.get(hint, "text, a number or a flag")


def shown(value: Any, n: int = 40) -> str:
    """A value from a file, short and printable, for an error message."""
    return printable(repr(value), n)


def printable(text: str, n: int = 200) -> str:
    """Text from a file, safe to print on a terminal (no control characters), shortened."""
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= n else text[: n - 3] + "..."


def check_value(name: str, hint: Any, value: Any) -> None:
    if not accepts(hint, value):
        raise ConfigError(f"{name} must be {describe(hint)}, got {shown(value)}")


def check_options(what: str, options: Any, hints: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` (a mapping of ``what``'s options), each known and of its hinted type."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"{what} options must be a table, got {shown(options)}")
    unknown = sorted(str(k) for k in options if k not in hints)
    if unknown:
        raise ConfigError(f"unknown {what} option(s) {', '.join(unknown)}; it accepts: "
                          f"{', '.join(hints) or 'none'}")
    for key, value in options.items():
        check_value(f"{what} option {key!r}", hints[key], value)
    return dict(options)


def check_settings(settings: Mapping[str, Any]) -> None:
    """The settings' top-level values and their tables are of the types they must be (the
    names inside the tables are checked where the registry resolves them)."""
    from .adaptive_mix import AdaptiveMixConfig
    from .grpo_config import GRPOConfig
    from .policy.base import LoRAConfig, SamplingConfig

    for key, value in settings.items():
        if key in SETTING_TYPES:
            check_value(key, SETTING_TYPES[key] | None, value)
    for key, kind in (("grpo", GRPOConfig), ("sampling", SamplingConfig),
                      ("lora", LoRAConfig), ("adaptive_mix", AdaptiveMixConfig)):
        table = settings.get(key)
        if isinstance(table, Mapping):
            hints = dataclass_hints(kind)
            for field, value in table.items():  # unknown fields: the dataclass names them
                if field in hints:
                    check_value(f"{key}.{field}", hints[field], value)
    _check_sampler_tables(settings)


def _check_sampler_tables(settings: Mapping[str, Any]) -> None:
    for name, spec in (settings.get("group") or {}).items():
        if not (accepts(int, spec) or isinstance(spec, Mapping)):
            raise ConfigError(f"group entry {name!r} must be a count or a table with n, got "
                              f"{shown(spec)}")
    for name, options in (settings.get("sampler_options") or {}).items():
        if not isinstance(options, Mapping):
            raise ConfigError(f"sampler_options.{name} must be a table, got {shown(options)}")


def check_sampler_options(settings: Mapping[str, Any]) -> None:
    """Options given to samplers (in ``group`` entries and ``sampler_options``) are the
    registered samplers' own, of the types their factories take."""
    from .registry import registry

    group = settings.get("group") or {}
    tables = [(name, {k: v for k, v in spec.items() if k != "n"} if isinstance(spec, Mapping)
               else {}) for name, spec in group.items()]
    tables += list((settings.get("sampler_options") or {}).items())
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
    except RecursionError:
        raise ConfigError(f"config file {path} is nested too deeply") from None
    data = {k.replace("-", "_"): v for k, v in raw.items()}
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} in {path}; known: "
                          f"{', '.join(sorted(set(FILE_KEYS)))}")
    for table in TABLES:
        if table in data and not isinstance(data[table], Mapping):
            raise ConfigError(f"{table} in {path} must be a table ([{table}])")
    try:
        check_settings(data)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in {path})") from None
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
                                      "device", "dtype", "init_adapter", "train")
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
        from .cli_endpoint import endpoint_objects
        from .config import DEFAULT_MODEL
        from .engines import with_fastest_engine

        options.update(endpoint_objects(config))
        if "policy" not in options:
            # not stored: a resume picks the fastest engine installed where it runs
            options = with_fastest_engine(options.get("model", DEFAULT_MODEL), options)
    elif config.get("endpoint"):
        raise ConfigError(f"--endpoint applies to LLM presets, and {config['method']!r} is "
                          "not one")
    return create("optimizer", config["method"], task, database=db, seed=config["seed"],
                  budget=config["budget"], **options)


def build_executor(config: Mapping[str, Any]) -> Any:
    from .registry import create

    return create("executor", config.get("executor", "serial"),
                  **dict(config.get("executor_options") or {}))
