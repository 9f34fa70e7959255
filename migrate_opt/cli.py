"""The ``migrate-opt`` command: plugins, run, resume, show, report, compare.

Errors on bad options are one clear line (exit 2), never a traceback."""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .cli_config import (
    DEFAULTS,
    build_executor,
    build_optimizer,
    check_options,
    check_sampler_options,
    check_settings,
    coerce,
    factory_hints,
    factory_options,
    key_values,
    parse_group,
    parse_sampler_options,
    printable,
    read_config_file,
)
from .cli_endpoint import connection_of, resume_model, with_source
from .cli_parser import build_parser
from .cli_study import (
    default_study_name,
    differences,
    identity,
    stored_run,
    study_record,
)
from .errors import ConfigError, MigrateOptError
from .task import split_task_options

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
    from .cli_parser import run_flags

    task_flags = ["--" + k.replace("_", "-") for k in params]
    close = difflib.get_close_matches(f"--{key}", [*run_flags(), *task_flags], n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return (f"unknown option --{key}: not an option of `run` (`migrate-opt run --help`) nor "
            f"of this task (it accepts: {', '.join(task_flags) or 'none'}).{hint}")


# -- commands ------------------------------------------------------------------------------
def cmd_plugins(args: argparse.Namespace) -> int:
    from .registry import registry

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
    from .registry import registry

    rows = [(e.name, "llm" if getattr(e.factory, "preset", None) else "optimizer",
             e.description) for e in registry().entries["optimizer"].values()]
    _table(["method", "kind", "description"], rows)
    return 0


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    from .registry import registry

    factory = registry().entry("task", args.task).factory
    if args.help_task:
        _print_options(factory)
        return 0
    config = run_config(args)
    if args.help_executor:
        _print_options(registry().entry("executor", config["executor"]).factory)
        return 0
    config["task_options"] = check_options(
        f"task {args.task!r}", {**config["task_options"], **parse_task_options(factory, extra)},
        factory_hints(factory))
    check_sampler_options(config)
    registry().entry("optimizer", config["method"])  # unknown names: refused before any work
    registry().entry("executor", config["executor"])
    config["study"] = config["study"] or default_study_name(config, factory)
    if config.get("device"):
        from .policy import resolve_device

        resolve_device(config["device"])  # before a study file is touched
    _check_identity(config, factory)
    return _execute(config, factory, resume=False)


def _check_identity(config: dict[str, Any], factory: Callable[..., Any]) -> None:
    """``run`` continues a study only with the settings that shaped it."""
    stored = _stored_settings(config["storage"], config["study"])
    if stored is None:
        return
    where, study = config["storage"], config["study"]
    ways_out = (f"resume it as it was (migrate-opt resume {where} --study {study}), or start "
                "a new study with --study NAME")
    raw = stored.get("cli")
    if raw is None:
        if stored.get("records"):
            raise ConfigError(f"study {study!r} in {where} was not started by `migrate-opt "
                              "run`: start a new study with --study NAME")
        return  # an empty study an older version left behind: nothing to keep apart
    old, old_factory, _ = stored_run(raw, study, where)
    changed = differences(identity(old, old_factory), identity(config, factory))
    if changed:
        raise ConfigError(f"study {study!r} in {where} was started with other settings: "
                          f"{'; '.join(changed)}. To go on, {ways_out}")


def _stored_settings(url: str, study: str) -> dict[str, Any] | None:
    """The study's stored settings (and whether it holds records), or None when the
    storage holds no such study yet; read without writing anything."""
    from .registry import registry
    from .storage import locate, open_database

    name, path = locate(url)
    lister = getattr(registry().entry("database", name).factory, "list_studies", None)
    if path is None or lister is None or not os.path.exists(path) or study not in lister(path):
        return None
    with open_database(url, study, readonly=True) as db:
        return {**db.settings(), "records": len(db) > 0}


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the --config file, then the flags given."""
    from .registry import registry

    flags = {k: v for k, v in vars(args).items() if v is not None and k not in (
        "command", "verbose", "config", "help_task", "help_executor", "group",
        "sampler_option", "executor_option", "endpoint_option")}
    config: dict[str, Any] = {**DEFAULTS, **(read_config_file(args.config) if args.config
                                             else {}), **flags}
    config.update(connection_of(args))
    if args.group:
        config["group"] = parse_group(args.group)
    if args.sampler_option:
        merged = {k: dict(v) for k, v in config["sampler_options"].items()}
        for name, options in parse_sampler_options(args.sampler_option).items():
            merged.setdefault(name, {}).update(options)
        config["sampler_options"] = merged
    check_settings(config)
    executor = registry().entry("executor", config["executor"]).factory
    what = f"executor {config['executor']!r}"
    config["executor_options"] = check_options(what, {
        **config["executor_options"], **key_values(args.executor_option or [], executor, what)},
        factory_hints(executor))
    return config


def _print_options(factory: Callable[..., Any]) -> None:
    for name, kind in factory_options(factory).items():
        print(f"--{name.replace('_', '-')} ({kind.__name__})")


def cmd_resume(args: argparse.Namespace, extra: list[str]) -> int:
    from .registry import registry
    from .storage import open_database, pick_study

    study = pick_study(args.storage, args.study)
    with open_database(args.storage, study, readonly=True) as reader:
        raw = reader.settings().get("cli")
    if raw is None:
        raise ConfigError(f"study {study!r} was not started by `migrate-opt run`; resume it "
                          "from Python with the same objects")
    config, factory, ignored = stored_run(raw, study, args.storage)
    # Whatever runs, connects or limits comes from this command line, never from the file.
    config.update(executor=args.executor or "serial", engine=args.engine, device=args.device,
                  no_progress=args.no_progress, storage=args.storage, resumed=True)
    if args.help_executor:
        _print_options(registry().entry("executor", config["executor"]).factory)
        return 0
    config["executor_options"] = key_values(
        args.executor_option or [], registry().entry("executor", config["executor"]).factory,
        f"executor {config['executor']!r}")
    environment = parse_task_options(factory, extra)
    shaping = sorted(split_task_options(factory, environment)[0])
    if shaping:
        raise ConfigError(f"{', '.join('--' + k.replace('_', '-') for k in shaping)} shape(s) "
                          "the study and cannot change on resume: start a new study with run")
    config["task_options"] = {**config["task_options"], **environment}
    resume_model(config, args, study)
    if args.budget is not None:
        config["budget"] = args.budget
    if config.get("device"):
        from .policy import resolve_device

        resolve_device(config["device"])
    if ignored:
        print(f"resume ignores the study's stored {', '.join(ignored)}: the executor, "
              "storage, engine, device and a task's environment options come from this "
              "command line", file=sys.stderr)
    started = raw.get("started_in") or raw.get("storage")
    if isinstance(started, str) and started != args.storage:
        # The file given is the study, wherever it was when `run` started it.
        config["started_in"] = started
    return _execute(config, factory, resume=True, discard_checkpoint=args.discard_checkpoint)


def _execute(config: dict[str, Any], factory: Callable[..., Any], *, resume: bool,
             discard_checkpoint: bool = False) -> int:
    """Build the optimizer (the model loads here), then run it. A new study is built in
    memory first and its file written only once everything stands: a refused or
    interrupted start leaves the storage as it was."""
    from .storage import MemoryDatabase, open_database

    storage, study = config["storage"], config["study"]
    if resume or _stored_settings(storage, study) is not None:
        db = open_database(storage, study)  # the writer lease first; nothing else is written
        try:
            opt = _built(config, db, discard_checkpoint)
        except BaseException:
            db.close()
            raise
    else:
        opt = _built(config, MemoryDatabase(study=study), discard_checkpoint)
        db = open_database(storage, study)
        if len(db) or db.settings():
            db.close()
            raise ConfigError(f"study {study!r} in {storage} was started by another process "
                              "meanwhile; nothing was written: run again to see its settings")
        opt.database = db  # empty either way: nothing built so far read a record
    with db:
        db.set_settings({**db.settings(), **opt.settings(),
                         "cli": study_record(with_source(config), factory)})
        return _run_study(opt, config, resume)


def _built(config: dict[str, Any], db: Any, discard_checkpoint: bool) -> Any:
    opt = build_optimizer(config, db)
    if hasattr(opt, "restore"):  # load the checkpoint before anything is written
        opt.restore(discard_checkpoint=discard_checkpoint)
    return opt


def _run_study(opt: Any, config: dict[str, Any], resume: bool) -> int:
    from .loop import run
    from .report.story import stop_reason

    executor = build_executor(config)
    verb = "resuming" if resume else "continuing" if opt.n_evaluations else "starting"
    moved = config.get("started_in")
    where = f" (started in {printable(moved)}; writing here)" if resume and moved else ""
    print(f"{verb} study {config['study']!r} in {config['storage']}{where} "
          f"({opt.n_evaluations}/{config['budget']} evaluations done)", file=sys.stderr)
    try:
        result = run(opt, budget=config["budget"], iterations=config.get("iterations"),
                     executor=executor, stop_when_solved=config.get("stop_when_solved", False),
                     patience=config["patience"],
                     progress=not config.get("no_progress"))
    except KeyboardInterrupt:
        print(f"\ninterrupted: everything told so far is stored. Resume with:\n"
              f"  migrate-opt resume {config['storage']} --study {config['study']}",
              file=sys.stderr)
        return 130
    finally:
        executor.close()
    _print_best(opt.best(5))
    why = stop_reason({"stopped": result.stopped, "patience": config["patience"]})
    print(f"stopped: {result.stopped} ({why}); evaluations: {result.evaluations}; solved: "
          f"{result.solved}; stored in {config['storage']} (study {config['study']!r})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .learning import learning_curve
    from .storage import open_database, pick_study
    from .usage import study_usage
    from .values import with_direction

    study = pick_study(args.storage, args.study)
    db = open_database(args.storage, study, readonly=True)
    settings = {k: v for k, v in db.settings().items() if k != "cli"}
    best = with_direction(db.top(args.top), settings.get("direction", "maximize"))
    curve = learning_curve(db)
    usage = study_usage(db.groups())
    if args.json:
        print(json.dumps({"study": study, "settings": settings, "evaluations": len(db),
                          "learning": asdict(curve), "usage": usage.as_dict(),
                          "best": [_record_json(r) for r in best]},
                         indent=2, default=str))
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
    from .report import write_report

    print(write_report(args.storage, args.study, args.output, force=args.force))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .report.compare import HEADER, write_compare

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


if __name__ == "__main__":
    sys.exit(main())
