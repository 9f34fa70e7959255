"""``migrate-opt run`` and ``migrate-opt resume``: from the command line (and a study's
stored record) to the one record and spec a study is built and run from."""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..configs import check_options, factory_hints
from ..errors import ConfigError
from ..factory import RECORD_KEYS
from ..optimizer import RUNS_KEY
from ..task import split_task_options
from .endpoint import connection_of, resume_model
from .execute import execute_study
from .settings import (
    RUN_DEFAULTS,
    check_sampler_options,
    coerce,
    factory_options,
    key_values,
    parse_group,
    parse_sampler_options,
    read_config_file,
    run_spec,
)
from .stored_record import machine_config, read_record


# -- task options --------------------------------------------------------------------------
def parse_task_options(factory: Callable[..., Any], tokens: Sequence[str]) -> dict[str, Any]:
    """Turn ``--key value`` / ``--key=value`` / ``--flag`` tokens into keyword arguments of
    ``factory``, coerced by its type hints."""
    params = factory_options(factory)
    options: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise ConfigError(f"unexpected argument {tok!r}")
        key, _, value = tok[2:].partition("=")
        name = key.replace("-", "_")
        if name not in params:
            raise ConfigError(_unknown_option(key, params))
        kind = params[name]
        if not value:
            if kind is bool and (i + 1 >= len(tokens) or tokens[i + 1].startswith("--")):
                value = "true"
            elif i + 1 < len(tokens):
                i += 1
                value = tokens[i]
            else:
                raise ConfigError(f"option --{key} needs a value")
        options[name] = coerce(value, kind, key)
        i += 1
    return options


def _unknown_option(key: str, params: Mapping[str, Any]) -> str:
    """Neither ``run`` nor the task takes ``--key``: name both, and the closest flag."""
    from .parser import run_flags

    task_flags = ["--" + k.replace("_", "-") for k in params]
    close = difflib.get_close_matches(f"--{key}", [*run_flags(), *task_flags], n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return (f"unknown option --{key}: not an option of `run` (`migrate-opt run --help`) nor "
            f"of this task (it accepts: {', '.join(task_flags) or 'none'}).{hint}")



def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    from ..registry import registry

    factory = registry().entry("task", args.task).factory
    if args.help_task:
        _print_options(factory)
        return 0
    spec = run_config(args)
    if args.help_executor:
        _print_options(registry().entry("executor", spec["executor"]).factory)
        return 0
    spec["task_options"] = check_options(
        f"task {args.task!r}", {**spec["task_options"], **parse_task_options(factory, extra)},
        factory_hints(factory))
    check_sampler_options(spec["config"])
    registry().entry("optimizer", spec["method"])  # unknown names: refused before any work
    data, environment = split_task_options(factory, spec["task_options"])
    spec["study"] = spec["study"] or default_study_name(spec, data)
    device = spec["config"].get("policy", {}).get("device")
    if device:
        from ..factory import resolve_device

        resolve_device(device)  # before a study file is touched
    record = {"optimizer": spec["method"], "config": spec["config"], "task": spec["task"],
              "task_options": data, "run": {"seed": spec["seed"], "budget": spec["budget"]}}
    return execute_study(record, spec, as_options=True, environment=environment)


def default_study_name(spec: dict[str, Any], task_data: dict[str, Any]) -> str:
    """``TASK-METHOD-sSEED``, with a short hash of the config and the task's data options
    when any were given: a changed target or model is another study."""
    base = f"{spec['task']}-{spec['method']}-s{spec['seed']}"
    rest = {k: v for k, v in (("config", spec["config"]), ("task_options", task_data)) if v}
    if not rest:
        return base
    text = json.dumps(rest, sort_keys=True, default=str).encode()
    return f"{base}-{hashlib.sha256(text).hexdigest()[:6]}"


FLAG_ONLY = ("command", "verbose", "config", "help_task", "help_executor", "group",
             "sampler_option", "executor_option", "set", "endpoint", "api_key_env",
             "endpoint_option")


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the --config file, then the flags given, then --set: one mapping
    (``settings.run_spec``)."""
    flags = {k: v for k, v in vars(args).items() if v is not None and k not in FLAG_ONLY}
    if args.group:
        flags["group"] = parse_group(args.group)
    if args.sampler_option:
        flags["sampler_options"] = parse_sampler_options(args.sampler_option)
    spec = run_spec(read_config_file(args.config) if args.config else {}, flags,
                    args.set or ())
    spec["connection"] = connection_of(args)
    spec["executor_options"] = executor_options(spec["executor"], spec["executor_options"],
                                                args.executor_option)
    return spec


def executor_options(name: str, given: Mapping[str, Any], pairs: Sequence[str] | None
                     ) -> dict[str, Any]:
    """The options of executor ``name``: ``given`` (a --config file's), then the
    ``--executor-option KEY=VALUE`` pairs, each known and of its hinted type."""
    from ..registry import registry

    executor = registry().entry("executor", name).factory
    what = f"executor {name!r}"
    return check_options(what, {**given, **key_values(pairs or [], executor, what)},
                         factory_hints(executor))


def _print_options(factory: Callable[..., Any]) -> None:
    for name, kind in factory_options(factory).items():
        print(f"--{name.replace('_', '-')} ({kind.__name__})")


def cmd_resume(args: argparse.Namespace, extra: list[str]) -> int:
    from ..factory import open_database, pick_study
    from ..registry import registry

    study = pick_study(args.storage, args.study)
    with open_database(args.storage, study, readonly=True) as reader:
        settings = reader.settings()
        record, as_options = read_record(settings, study)
    extras = sorted(str(k) for k in settings if k not in (*RECORD_KEYS, RUNS_KEY, "cli")
                    and not as_options)
    factory = registry().entry("task", record["task"]).factory
    record["task_options"], stored_environment = split_task_options(factory,
                                                                    record["task_options"])
    ignored = {f"task_options.{k}": v for k, v in stored_environment.items()}
    ignored.update(dict.fromkeys(extras))
    # Whatever runs, connects or limits comes from this command line, never from the file.
    record["config"] = machine_config(record["config"], args.engine, args.device, ignored)
    connection = resume_model(record, args, study)
    spec = {**RUN_DEFAULTS, "storage": args.storage, "study": study,
            "no_progress": args.no_progress, "executor": args.executor or "serial",
            "iterations": args.iterations, "resumed": True, "connection": connection}
    if args.help_executor:
        _print_options(registry().entry("executor", spec["executor"]).factory)
        return 0
    spec["executor_options"] = executor_options(spec["executor"], {}, args.executor_option)
    environment = parse_task_options(factory, extra)
    shaping = sorted(split_task_options(factory, environment)[0])
    if shaping:
        raise ConfigError(f"{', '.join('--' + k.replace('_', '-') for k in shaping)} shape(s) "
                          "the study and cannot change on resume: start a new study with run")
    if args.budget is not None:
        record["run"] = {**record["run"], "budget": args.budget}
    if args.device:
        from ..factory import resolve_device

        resolve_device(args.device)
    if ignored:
        print(f"resume ignores the study's stored {', '.join(sorted(ignored))}: the executor, "
              "storage, engine, device and a task's environment options come from this "
              "command line", file=sys.stderr)
    return execute_study(record, spec, as_options=as_options, environment=environment,
                         discard_checkpoint=args.discard_checkpoint)
