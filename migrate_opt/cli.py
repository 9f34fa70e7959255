"""The ``migrate-opt`` command: plugins, run, resume, show, report.

Errors on bad options are one clear line (exit 2), never a traceback."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .cli_config import (
    DEFAULTS,
    build_executor,
    build_optimizer,
    coerce,
    factory_options,
    key_values,
    parse_group,
    parse_sampler_options,
    read_config_file,
)
from .cli_endpoint import (
    LOCAL_ONLY,
    SERVER_ENGINE,
    check_resume,
    connection_of,
    stored,
    without_connection,
)
from .cli_parser import build_parser
from .errors import ConfigError, MigrateOptError

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
            accepted = ", ".join("--" + k.replace("_", "-") for k in params) or "none"
            raise ConfigError(f"unknown option --{key} for this task; it accepts: {accepted}")
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
    config["task_options"] = {**config["task_options"], **parse_task_options(factory, extra)}
    config["study"] = config["study"] or f"{args.task}-{config['method']}-s{config['seed']}"
    if config.get("device"):
        from .policy import resolve_device

        resolve_device(config["device"])  # before a study file is touched
    return _execute(config, resume=False)


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
    if args.executor_option:
        executor = registry().entry("executor", config["executor"]).factory
        config["executor_options"] = {**config["executor_options"], **key_values(
            args.executor_option, executor, f"executor {config['executor']!r}")}
    return config


def _print_options(factory: Callable[..., Any]) -> None:
    for name, kind in factory_options(factory).items():
        print(f"--{name.replace('_', '-')} ({kind.__name__})")


def cmd_resume(args: argparse.Namespace) -> int:
    from .storage import open_database, pick_study

    study = pick_study(args.storage, args.study)
    with open_database(args.storage, study, readonly=True) as reader:
        config = reader.settings().get("cli")
    if not config:
        raise ConfigError(f"study {study!r} was not started by `migrate-opt run`; resume it "
                          "from Python with the same objects")
    config = {**DEFAULTS, **without_connection(config), "resumed": True,
              **connection_of(args)}
    if args.model is not None:
        config["model"] = args.model
    if args.endpoint and args.engine is None and config.get("engine") != SERVER_ENGINE:
        for key in LOCAL_ONLY:  # the stored local model's settings: no use to an endpoint
            config.pop(key, None)
    check_resume(config, study, args.model is not None)
    if args.budget is not None:
        config["budget"] = args.budget
    if args.engine is not None:
        config["engine"] = args.engine
    config["no_progress"] = args.no_progress
    if config.get("storage") != args.storage:
        # The file given is the study, wherever it was when `run` started it.
        log.info("study %r was started in %s; resuming writes to %s", study,
                 config.get("storage"), args.storage)
        config["started_in"] = config.get("started_in") or config.get("storage")
    config["storage"] = args.storage
    return _execute(config, resume=True, discard_checkpoint=args.discard_checkpoint)


def _execute(config: dict[str, Any], *, resume: bool, discard_checkpoint: bool = False) -> int:
    from .storage import open_database

    with open_database(config["storage"], config["study"]) as db:
        opt = build_optimizer(config, db)
        if hasattr(opt, "restore"):  # load the checkpoint before anything is written
            opt.restore(discard_checkpoint=discard_checkpoint)
        db.set_settings({**db.settings(), **opt.settings(), "cli": stored(config)})
        return _run_study(opt, config, resume)


def _run_study(opt: Any, config: dict[str, Any], resume: bool) -> int:
    from .loop import run

    executor = build_executor(config)
    verb = "resuming" if resume else "starting"
    moved = config.get("started_in")
    where = f" (started in {moved}; writing here)" if resume and moved else ""
    print(f"{verb} study {config['study']!r} in {config['storage']}{where} "
          f"({opt.n_evaluations}/{config['budget']} evaluations done)", file=sys.stderr)
    try:
        result = run(opt, budget=config["budget"], iterations=config.get("iterations"),
                     executor=executor, stop_when_solved=config.get("stop_when_solved", False),
                     progress=not config.get("no_progress"))
    except KeyboardInterrupt:
        print(f"\ninterrupted: everything told so far is stored. Resume with:\n"
              f"  migrate-opt resume {config['storage']} --study {config['study']}",
              file=sys.stderr)
        return 130
    finally:
        executor.close()
    _print_best(opt.best(5))
    print(f"stopped: {result.stopped}; evaluations: {result.evaluations}; solved: "
          f"{result.solved}; stored in {config['storage']} (study {config['study']!r})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .learning import learning_curve
    from .storage import open_database, pick_study
    from .usage import study_usage

    study = pick_study(args.storage, args.study)
    db = open_database(args.storage, study, readonly=True)
    settings = {k: v for k, v in db.settings().items() if k != "cli"}
    best = db.top(args.top)
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
        print(f"  {k}: {json.dumps(v, default=str)}")
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

    print(write_report(args.storage, args.study, args.output))
    return 0


def _record_json(r: Any) -> dict[str, Any]:
    return {"solution": r.solution, "score": r.score, "solved": r.solved, "source": r.source,
            "iteration": r.iteration, "evaluation": r.seq}


def _print_best(best: Sequence[Any]) -> None:
    rows = [(i + 1, f"{r.score:.4f}", r.source, r.iteration, _short(r.solution) +
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
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "run":
            return cmd_run(args, extra)
        handler = {"plugins": cmd_plugins, "methods": cmd_methods, "resume": cmd_resume,
                   "show": cmd_show, "report": cmd_report}[args.command]
        return handler(args)
    except ImportError as exc:
        print(f"migrate-opt: error: {exc}; install the extra it needs, e.g. "
              "pip install 'migrate-opt[llm]'", file=sys.stderr)
        return 2
    except (MigrateOptError, ValueError, KeyError, OSError) as exc:
        if args.verbose:
            raise
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"migrate-opt: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
