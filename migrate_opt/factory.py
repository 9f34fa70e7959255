"""Names to objects, in one place: the typed facade over the registry.

Below the command line this is the only module that resolves a registered name; policies,
engines, storage and presets receive objects. Each ``create_*`` checks what the plugin built,
so a factory that returns the wrong kind fails here, in one line, not deep in a run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from .configs import accepts, check_options, describe, factory_hints, shown
from .errors import ConfigError, PluginError
from .registry import registry

if TYPE_CHECKING:
    from .engines import Engine
    from .executors import Executor
    from .optimizer import Optimizer
    from .policy.base import Policy
    from .samplers import Sampler
    from .storage import Database
    from .task import Task


def _wrong(kind: str, name: str, obj: object, what: str) -> PluginError:
    return PluginError(f"{kind} {name!r} built a {type(obj).__name__}, not a {what}: its "
                       "plugin registered the wrong factory")


def create_task(name: str, **options: Any) -> Task:
    """The registered task ``name`` (``migrate-opt plugins`` lists them), built with its
    options, e.g. ``create_task("semantle", target="computer")``."""
    from .task import Task

    built = registry().create("task", name, **options)
    if not isinstance(built, Task):
        raise _wrong("task", name, built, "Task")
    try:  # the study's record stores the options a task was built with, when known
        built.built_with = dict(options)  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return built


def create_optimizer(name: str, task: Task, **options: Any) -> Optimizer:
    """The registered optimizer ``name`` on ``task``: an LLM preset (``migrate``, ``grpo``,
    ``sample``, ...; options are :class:`~migrate_opt.MigrateConfig`'s fields plus
    ``policy``, ``database``, ``seed``, ``budget``) or a baseline (its own options)."""
    from .optimizer import Optimizer

    built = registry().create("optimizer", name, task, **options)
    if not isinstance(built, Optimizer):
        raise _wrong("optimizer", name, built, "Optimizer")
    return built


def create_sampler(name: str, **options: Any) -> Sampler:
    """The registered sampler ``name`` (on_policy, greedy, neighborhood, opro, islands, puct,
    a plugin's) with its options (``top_k``, ``history``, ...)."""
    from .samplers import Sampler

    built = registry().create("sampler", name, **options)
    if not isinstance(built, Sampler):
        raise _wrong("sampler", name, built, "Sampler")
    return built


def create_engine(name: str, **options: Any) -> Engine:
    """The registered generation engine ``name`` (hf, openvino, vllm, a plugin's)."""
    from .engines import Engine

    built = registry().create("engine", name, **options)
    if not isinstance(built, Engine):
        raise _wrong("engine", name, built, "Engine")
    return built


def create_policy(name: str, *, engine: Engine | str | None = None, **options: Any) -> Policy:
    """A registered policy (smollm2-135m-instruct, tiny-random, a plugin's), or else a Hugging
    Face id in the local cache or a local folder (the registered ``hf`` policy). ``engine``
    is an engine object or a registered name (None: hf); the other options go to the policy:
    ``lora``, ``device`` (``auto`` picks CUDA when torch sees a GPU), ``dtype``, ``threads``;
    ``seed`` for tiny-random."""
    from .policy.base import Policy

    if options.get("device") is not None:
        options["device"] = resolve_device(options["device"])
    if engine is not None:
        options["engine"] = create_engine(engine) if isinstance(engine, str) else engine
    reg = registry()
    if name in reg.entries["policy"]:
        built = reg.create("policy", name, **options)
    else:
        built = reg.create("policy", "hf", model=name, **options)
    if not isinstance(built, Policy):
        raise _wrong("policy", name, built, "Policy")
    return built


load_policy = create_policy


def with_fastest_engine(policy: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` of a policy built by name, with ``engine`` set to the fastest engine
    installed when none was chosen, the model runs on the CPU, and ``policy`` is a built-in
    Hugging Face policy (a name in ``engines.FAST_BY_DEFAULT``, or a model id or folder).
    The front doors (CLI, demo, harness) use it; ``create`` itself keeps the defaults."""
    from .engines import FAST_BY_DEFAULT, fastest_engine

    out = dict(options)
    if out.get("engine") is not None or out.get("device", "cpu") not in ("cpu", None):
        return out
    if policy in registry().entries["policy"] and policy not in FAST_BY_DEFAULT:
        return out
    out["engine"] = fastest_engine()
    return out


def with_fastest_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """An LLM preset's config (either form: a stored record's or the shorthand of the
    command line and the harness) with :func:`with_fastest_engine` applied to its policy.
    The engine is the machine's: the study's record leaves it out."""
    out = dict(config)
    policy = out.get("policy")
    spec = {"name": policy} if isinstance(policy, str) else dict(policy or {})
    for key in ("model", "engine", "device"):  # the shorthands, when given
        if key in out:
            spec["name" if key == "model" else key] = out.pop(key)
    from .policy import DEFAULT_MODEL

    out["policy"] = with_fastest_engine(str(spec.get("name") or DEFAULT_MODEL), spec)
    return out
"""The name the README has always used for :func:`create_policy`."""


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is a
    clear error rather than a stack trace from deep inside torch."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for, and torch sees no CUDA GPU here "
                          "(torch.cuda.is_available() is False): use --device cpu or auto")
    return device


def create_executor(name: str, **options: Any) -> Executor:
    """The registered executor ``name`` (serial, process, ray, a plugin's)."""
    from .executors import Executor

    built = registry().create("executor", name, **options)
    if not isinstance(built, Executor):
        raise _wrong("executor", name, built, "Executor")
    return built


def takes_option(kind: str, name: str, option: str) -> bool:
    """Whether the registered ``kind`` ``name`` accepts the keyword ``option``."""
    import inspect

    params = inspect.signature(registry().entry(kind, name).factory).parameters
    return option in params and params[option].kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


# -- the study's record --------------------------------------------------------------------
RECORD_KEYS = ("optimizer", "config", "task", "task_options", "direction", "run")
"""What a study stores about its run (``Optimizer.settings``): data only."""


def study_record(settings: Any, study: str) -> dict[str, Any] | None:
    """The record stored with a study, checked to be data of the right shapes (a malformed
    one is one line naming what is wrong); None when the study predates it. Nothing else
    stored with the study is read."""
    def bad(problem: str) -> ConfigError:
        return ConfigError(f"study {study!r} holds a malformed record: {problem}; nothing "
                           "was changed")

    if not isinstance(settings, Mapping):
        raise bad(f"its settings are {shown(settings)}, not a table")
    if "run" not in settings or "config" not in settings:
        return None
    record: dict[str, Any] = {k: settings.get(k) for k in RECORD_KEYS}
    record["task_options"] = {} if record["task_options"] is None else record["task_options"]
    record["direction"] = record["direction"] or "maximize"
    for key, hint in (("optimizer", str), ("task", str), ("config", Mapping),
                      ("task_options", Mapping), ("run", Mapping),
                      ("direction", Literal["maximize", "minimize"])):
        if not accepts(hint, record[key]):
            raise bad(f"{key} must be {describe(hint)}, got {shown(record[key])}")
    if settings.get("sampled_from") == "endpoint":
        record["sampled_from"] = "endpoint"  # data: resume needs an endpoint or a model
    run: Mapping[str, Any] = record["run"]
    unknown = sorted(set(run) - {"seed", "budget"})
    if unknown:
        raise bad(f"run holds {', '.join(map(str, unknown))}; it holds seed and budget only")
    for key, kind in (("seed", int), ("budget", int | None)):
        if not accepts(kind, run.get(key)):
            raise bad(f"run.{key} must be {describe(kind)}, got {shown(run.get(key))}")
    return record


def build_task(record: Mapping[str, Any], environment: Mapping[str, Any] | None = None) -> Task:
    """The record's task, built by name from its stored options and the ``environment``
    options this machine gives. Stored options the task declares as the environment's
    (limits, isolation, code) are refused: a study file cannot set them."""
    factory = registry().entry("task", record["task"]).factory
    banned = sorted(set(record["task_options"]) & set(getattr(factory, "environment_options", ())))
    if banned:
        raise ConfigError(f"the stored task options set {', '.join(banned)}, which only the "
                          "command line may set: the study file was edited; drop them")
    options = check_options(f"task {record['task']!r}", record["task_options"],
                            factory_hints(factory))
    return create_task(record["task"], **options, **(environment or {}))


def build_optimizer(record: Mapping[str, Any], database: Database, *, budget: int | None = None,
                    as_options: bool = False, environment: Mapping[str, Any] | None = None,
                    objects: Mapping[str, Any] | None = None) -> Optimizer:
    """The optimizer a record describes, on ``database``. Its ``config`` goes back to the
    registered factory as ``config=`` (or, ``as_options``, as keyword options: the shorthand
    form of the command line and the harness). ``objects`` are what this machine adds
    (a policy or an engine built for a connection)."""
    run = record["run"]
    options: dict[str, Any] = {"database": database, "seed": run["seed"],
                               "budget": run.get("budget") if budget is None else budget}
    config = dict(record["config"])
    entry = registry().entry("optimizer", record["optimizer"])
    if entry.config is None:  # a factory of loose options: its stored config goes back so
        if config and as_options:
            raise ConfigError(f"{', '.join(sorted(config))} apply to LLM presets, and "
                              f"{record['optimizer']!r} is not one")
        options.update(config)
    elif as_options:
        options.update(config)
    elif config:
        options["config"] = config
    return create_optimizer(record["optimizer"], build_task(record, environment), **options,
                            **(objects or {}))


# -- study files ---------------------------------------------------------------------------
def locate(url: str) -> tuple[str, str | None]:
    """``(database name, path)`` of a storage location: its scheme (``sqlite:///runs/a.db``,
    ``memory:``) or, for a plain path, its extension (``.db`` -> sqlite). A database plugin
    declares the extensions it owns with a ``suffixes`` attribute on its factory."""
    table = registry().entries["database"]
    scheme, sep, rest = url.partition(":")
    if sep and scheme in table and (rest.startswith("//") or not rest):
        path = rest[2:] if rest.startswith("//") else ""
        return scheme, (path or None)
    suffix = os.path.splitext(url)[1].lower()
    for name, entry in table.items():
        if suffix and suffix in getattr(entry.factory, "suffixes", ()):
            return name, url
    owned = sorted(s for e in table.values() for s in getattr(e.factory, "suffixes", ()))
    raise ConfigError(
        f"no database owns {url!r}: name a file ending in {', '.join(owned)}, or give the "
        f"database as a scheme (NAME://path; installed: {', '.join(sorted(table))})"
    )


def open_database(url: str, study: str, *, readonly: bool = False) -> Database:
    """The study ``study`` in the storage ``url``."""
    from .storage import Database

    name, path = locate(url)
    options: dict[str, Any] = {"readonly": True} if readonly else {}
    built = registry().create("database", name, path, study, **options)
    if not isinstance(built, Database):
        raise _wrong("database", name, built, "Database")
    return built


create_database = open_database


def studies_in(url: str) -> list[str]:
    """The names of the studies a storage holds, oldest first."""
    name, path = locate(url)
    lister = getattr(registry().entry("database", name).factory, "list_studies", None)
    if lister is None or path is None:
        raise ConfigError(f"the {name} database cannot list its studies; give --study")
    if not os.path.exists(path):
        raise ConfigError(f"no such storage file: {path}")
    return list(lister(path))


def pick_study(url: str, study: str | None) -> str:
    """``study``, checked to exist, or the storage's only study; errors name the studies."""
    studies = studies_in(url)
    if study is not None:
        if study not in studies:
            raise ConfigError(f"no study {study!r} in {url}; studies: "
                              f"{', '.join(studies) or 'none'}")
        return study
    if len(studies) != 1:
        raise ConfigError(f"{url} holds {len(studies)} studies; pick one with "
                          f"--study: {', '.join(studies) or 'none'}")
    return studies[0]


__all__ = ["RECORD_KEYS", "build_optimizer", "build_task", "create_database", "create_engine",
           "create_executor", "create_optimizer", "create_policy", "create_sampler",
           "create_task", "load_policy", "locate", "open_database", "pick_study",
           "resolve_device", "studies_in", "study_record", "takes_option",
           "with_fastest_config", "with_fastest_engine"]
