"""The ``migrate-opt`` command: plugins, run, resume, show, report, compare.

Errors on bad options are one clear line (exit 2), never a traceback."""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..configs import check_options, factory_hints, printable
from ..errors import ConfigError, MigrateOptError
from ..factory import RECORD_KEYS
from ..optimizer import RUNS_KEY
from ..task import split_task_options
from .endpoint import connection_of, endpoint_objects, policy_of, resume_model
from .parser import build_parser
from .settings import (
    ALIASES,
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

log = logging.getLogger("migrate_opt")


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


# -- commands ------------------------------------------------------------------------------
def cmd_plugins(args: argparse.Namespace) -> int:
    from ..registry import registry

    reg = registry()
    rows = [
        (e.kind, e.name, e.distribution, e.version, e.plugin)
        for kind in reg.entries
        for e in reg.entries[kind].values()
    ]
    _table(["kind", "name", "distribution", "version", "plugin"], rows)
    for s in reg.skipped:
        print(f"skipped plugin {s.name} ({s.distribution}): {s.error}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from ..registry import registry

    rows = [(e.name, "llm" if e.config is not None else "optimizer", e.description)
            for e in registry().entries["optimizer"].values()]
    _table(["method", "kind", "description"], rows)
    return 0


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
    return _execute(record, spec, as_options=True, environment=environment)


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
    from ..registry import registry

    flags = {k: v for k, v in vars(args).items() if v is not None and k not in FLAG_ONLY}
    if args.group:
        flags["group"] = parse_group(args.group)
    if args.sampler_option:
        flags["sampler_options"] = parse_sampler_options(args.sampler_option)
    spec = run_spec(read_config_file(args.config) if args.config else {}, flags,
                    args.set or ())
    spec["connection"] = connection_of(args)
    executor = registry().entry("executor", spec["executor"]).factory
    what = f"executor {spec['executor']!r}"
    spec["executor_options"] = check_options(what, {
        **spec["executor_options"], **key_values(args.executor_option or [], executor, what)},
        factory_hints(executor))
    return spec


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
    record["config"] = _machine(record["config"], args.engine, args.device, ignored)
    connection = resume_model(record, args, study)
    spec = {**RUN_DEFAULTS, "storage": args.storage, "study": study,
            "no_progress": args.no_progress, "executor": args.executor or "serial",
            "iterations": args.iterations, "resumed": True, "connection": connection}
    executor = registry().entry("executor", spec["executor"]).factory
    if args.help_executor:
        _print_options(executor)
        return 0
    spec["executor_options"] = key_values(args.executor_option or [], executor,
                                          f"executor {spec['executor']!r}")
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
    return _execute(record, spec, as_options=as_options, environment=environment,
                    discard_checkpoint=args.discard_checkpoint)


def _machine(config: dict[str, Any], engine: str | None, device: str | None,
             ignored: Any) -> dict[str, Any]:
    """The record's config with the policy's engine and device from this command line, and
    no ``init_adapter`` (a path to read; a resumed study has its own adapter)."""
    if config.get("init_adapter") is not None:
        ignored["init_adapter"] = config["init_adapter"]
        config = {k: v for k, v in config.items() if k != "init_adapter"}
    policy = config.get("policy")
    if not isinstance(policy, dict):
        return config
    for key, given in (("engine", engine), ("device", device)):
        if policy.get(key) not in (None, given):
            ignored[f"policy.{key}"] = policy[key]
    policy = {k: v for k, v in policy.items() if k not in ("engine", "device")}
    policy.update({k: v for k, v in (("engine", engine), ("device", device)) if v})
    return {**config, "policy": policy}


def read_record(settings: dict[str, Any], study: str) -> tuple[dict[str, Any], bool]:
    """The study's record, and whether its config is in the shorthand form. A study stored
    by an older migrate-opt (its command line under ``cli``) is read once in the new form;
    resuming stores the new record."""
    from ..factory import study_record

    record = study_record(settings, study)
    if record is not None:
        return record, False
    old = settings.get("cli")
    if not isinstance(old, dict) or not isinstance(old.get("task"), str):
        raise ConfigError(f"study {study!r} holds no record of its run (it predates them and "
                          "was not started by `migrate-opt run`): resume it from Python with "
                          "the same objects")
    flat = {k: v for k, v in old.items() if k in ALIASES or k in CONFIG_KEYS_OLD}
    config = run_spec(flat, {})["config"]
    for name, options in (old.get("sampler_options") or {}).items():
        config.setdefault("sampler_options", {})[name] = options
    record = {"optimizer": old.get("method", "migrate"), "config": config,
              "task": old["task"], "task_options": dict(old.get("task_options") or {}),
              "run": {"seed": old.get("seed", 0), "budget": old.get("budget")}}
    print(f"study {study!r} was stored by an older migrate-opt; read as "
          f"{json.dumps(record, default=str)}", file=sys.stderr)
    return record, True


CONFIG_KEYS_OLD = ("group", "group_size", "top_k", "grpo", "sampling", "lora", "init_adapter",
                   "adaptive_mix")


def _with(config: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """``config`` with one dotted key set (the record's own form)."""
    head, _, rest = dotted.partition(".")
    inner = config.get(head)
    inner = {"name": inner} if isinstance(inner, str) else dict(inner or {})
    return {**config, head: _with(inner, rest, value) if "." in rest else {**inner, rest: value}}


def _execute(record: dict[str, Any], spec: dict[str, Any], *, as_options: bool,
             environment: dict[str, Any], discard_checkpoint: bool = False) -> int:
    """Build the optimizer (the model loads here), then run it. A new study is built in
    memory first and its file written only once everything stands: a refused or
    interrupted start leaves the storage as it was. ``run`` on a stored study goes on only
    with the record that shaped it (the budget may differ)."""
    from ..factory import build_optimizer, open_database, studies_in
    from ..storage import MemoryDatabase

    storage, study = spec["storage"], spec["study"]
    record, objects = _with_connection(record, spec)
    if spec.get("resumed") or _holds(storage, study, studies_in):
        db = open_database(storage, study)  # the writer lease first; nothing else is written
        try:
            stored = None if spec.get("resumed") else db.settings()
            opt = build_optimizer(record, db, as_options=as_options, environment=environment,
                                  objects=objects)
            if stored is not None:
                _check_identity(stored, opt.settings(), len(db), spec)
            opt.restore(discard_checkpoint=discard_checkpoint)  # before anything is written
        except BaseException:
            db.close()
            raise
    else:
        opt = build_optimizer(record, MemoryDatabase(study=study), as_options=as_options,
                              environment=environment, objects=objects)
        db = open_database(storage, study)
        if len(db) or db.settings():
            db.close()
            raise ConfigError(f"study {study!r} in {storage} was started by another process "
                              "meanwhile; nothing was written: run again to see its settings")
        opt.database = db  # empty either way: nothing built so far read a record
    with db:
        opt.write_settings()
        return _run_study(opt, spec)


def _with_connection(record: dict[str, Any], spec: dict[str, Any]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record and the objects a connection (``--endpoint``) gives: an endpoint policy
    replaces the record's policy table, a ``vllm-server`` engine its engine name."""
    from ..registry import registry

    connection = spec.get("connection") or {}
    if registry().entry("optimizer", record["optimizer"]).config is None:
        if connection.get("endpoint"):
            raise ConfigError(f"--endpoint applies to LLM presets, and "
                              f"{record['optimizer']!r} is not one")
        return record, {}
    from ..factory import with_fastest_config

    objects = endpoint_objects(connection, record["config"])
    config = dict(record["config"])
    if "policy" in objects:
        config.pop("policy", None)
    elif "engine" in objects:
        config["policy"] = {k: v for k, v in policy_of(config).items() if k != "engine"}
    else:  # the fastest engine installed here when none was chosen (never stored)
        config = with_fastest_config(config)
    return {**record, "config": config}, objects


def _holds(storage: str, study: str, studies_in: Callable[[str], list[str]]) -> bool:
    """Whether the storage holds the study already (read without writing anything)."""
    from ..factory import locate

    _, path = locate(storage)
    return path is not None and os.path.exists(path) and study in studies_in(storage)


def _check_identity(stored: dict[str, Any], record: dict[str, Any], records: int,
                    spec: dict[str, Any]) -> None:
    """``run`` continues a study only with the record that shaped it."""
    from ..factory import study_record

    where, study = spec["storage"], spec["study"]
    ways_out = (f"resume it as it was (migrate-opt resume {where} --study {study}), or start "
                "a new study with --study NAME")
    old = study_record(stored, study)
    if old is None:
        if records or stored:
            raise ConfigError(f"study {study!r} in {where} holds no record of this version "
                              f"of migrate-opt: {ways_out}")
        return  # an empty study an older version left behind: nothing to keep apart
    changed = differences({**old, "run": old["run"].get("seed")},
                          {**record, "run": record["run"].get("seed")})
    if changed:
        raise ConfigError(f"study {study!r} in {where} was started with other settings: "
                          f"{'; '.join(changed)}. To go on, {ways_out}")


def differences(stored: Any, given: Any, prefix: str = "") -> list[str]:
    """``key (stored X, now Y)`` for each setting that differs, tables walked."""
    if isinstance(stored, dict) and isinstance(given, dict):
        return [d for key in sorted(set(stored) | set(given), key=str)
                for d in differences(stored.get(key), given.get(key), f"{prefix}{key}.")]
    if stored == given:
        return []
    return [f"{prefix.rstrip('.')} (stored {printable(repr(stored), 30)}, now "
            f"{printable(repr(given), 30)})"]


def _run_study(opt: Any, spec: dict[str, Any]) -> int:
    from ..factory import create_executor
    from ..loop import run
    from ..report.story import stop_reason

    executor = create_executor(spec["executor"], **spec["executor_options"])
    verb = "resuming" if spec.get("resumed") else "starting"
    print(f"{verb} study {spec['study']!r} in {spec['storage']} "
          f"({opt.n_evaluations}/{opt.budget} evaluations done)", file=sys.stderr)
    try:
        result = run(opt, budget=opt.budget, iterations=spec.get("iterations"),
                     executor=executor, stop_when_solved=spec.get("stop_when_solved", True),
                     patience=spec["patience"], progress=not spec.get("no_progress"))
    except KeyboardInterrupt:
        print(f"\ninterrupted: everything told so far is stored. Resume with:\n"
              f"  migrate-opt resume {spec['storage']} --study {spec['study']}",
              file=sys.stderr)
        return 130
    finally:
        executor.close()
    _print_best(opt.best(5))
    why = stop_reason({"stopped": result.stopped, "patience": spec["patience"]})
    print(f"stopped: {result.stopped} ({why}); evaluations: {result.evaluations}; solved: "
          f"{result.solved}; stored in {spec['storage']} (study {spec['study']!r})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..factory import open_database, pick_study, study_record
    from ..grpo.monitor import learning_curve
    from ..usage import study_usage
    from ..values import with_direction

    study = pick_study(args.storage, args.study)
    db = open_database(args.storage, study, readonly=True)
    stored = db.settings()
    record = study_record(stored, study)
    settings = record if record is not None else {k: v for k, v in stored.items()
                                                  if k != "cli"}
    best = with_direction(db.top(args.top), str(settings.get("direction", "maximize")))
    curve = learning_curve(db)
    usage = study_usage(db.groups())
    if args.json:
        print(json.dumps({"study": study, "settings": settings, "evaluations": len(db),
                          "learning": asdict(curve), "usage": usage.as_dict(),
                          "best": [_record_json(r) for r in best]}, indent=2, default=str))
        return 0
    print(f"study {study!r} in {args.storage}: {len(db)} evaluations, "
          f"{db.last_iteration() + 1} iterations")
    if usage.tokens:
        print(f"  usage: {usage.line()}")
    for k, v in settings.items():
        print(f"  {printable(str(k))}: {json.dumps(v, default=str)}")  # no terminal escapes
    _print_learning(curve)
    _print_best(best)
    return 0


def _print_learning(curve: Any) -> None:
    """The last iterations' on-policy mean reward and KL to base: is the model learning?"""
    if not curve.iterations:
        return
    rows = [(it, "-" if r is None else f"{r:.4f}", "-" if k is None else f"{k:.4f}", str(n))
            for it, r, k, n in list(zip(curve.iterations, curve.on_policy_reward, curve.kl,
                                        curve.new_solutions))[-8:]]
    print("learning (last iterations):")
    _table(["iteration", "on-policy reward", "KL to base", "new solutions"], rows)
    if curve.kl_exceeded:
        print(f"warning: {curve.kl_exceeded} GRPO step(s) had a KL to base past max_kl: the "
              "policy drifted far from the base model (lower the learning rate)")


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    print(write_report(args.storage, args.study, args.output, force=args.force))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..report.compare import HEADER, write_compare

    path, rows = write_compare(args.studies, args.output)
    _table(HEADER, [r.cells() for r in rows])
    if any(r.short for r in rows):
        print("flag: stopped short of the budget without solving; its rank is not that of "
              "a run that spent the same")
    print(path)
    return 0


def _record_json(r: Any) -> dict[str, Any]:
    return {"solution": r.solution, "score": r.objective, "solved": r.solved, "source": r.source,
            "iteration": r.iteration, "evaluation": r.seq}


def _print_best(best: Sequence[Any]) -> None:
    rows = [(i + 1, f"{r.objective:.4f}", r.source, r.iteration, _short(r.solution) +
             (" (solved)" if r.solved else "")) for i, r in enumerate(best)]
    _table(["rank", "score", "source", "iteration", "solution"], rows)


def _short(s: str, n: int = 70) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if extra and args.command not in ("run", "resume"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "run":
            return cmd_run(args, extra)
        if args.command == "resume":
            return cmd_resume(args, extra)
        handler = {"plugins": cmd_plugins, "methods": cmd_methods, "show": cmd_show,
                   "report": cmd_report, "compare": cmd_compare}[args.command]
        return handler(args)
    except BrokenPipeError:  # `show ... | head` closed our output: nothing went wrong here
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0
    except KeyboardInterrupt:  # while a model loads, or a file is read
        starting = args.command in ("run", "resume")
        print("\nmigrate-opt: interrupted" + (" before the run started; nothing was written"
                                              if starting else ""), file=sys.stderr)
        return 130
    except ImportError as exc:
        print(f"migrate-opt: error: {exc}; install the extra it needs, e.g. "
              "pip install 'migrate-opt[llm]'", file=sys.stderr)
        return 2
    except (MigrateOptError, ValueError, KeyError, OSError) as exc:
        if args.verbose:
            raise
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"migrate-opt: error: {' '.join(msg.split())}", file=sys.stderr)  # one line
        return 2

