"""The ``migrate-opt`` command: plugins, run, resume, show, report.

Errors on bad options are one clear line (exit 2), never a traceback."""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from .errors import ConfigError, MigrateOptError
from .presets import METHOD_NAMES

log = logging.getLogger("migrate_opt")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="migrate-opt",
        description="Black-box optimization with language models (MiGrATe and baselines).",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("plugins", help="list installed plugins and what they register")
    sub.add_parser("methods", help="list methods (LLM presets and optimizers)")

    run = sub.add_parser(
        "run",
        help="optimize a task",
        description="Optimize TASK. Options not listed here are passed to the task "
        "(e.g. --target computer); `migrate-opt run TASK --help-task` lists them.",
    )
    run.add_argument("task", help="task name (see `migrate-opt plugins`)")
    run.add_argument("--method", default="migrate",
                     help=f"LLM preset ({', '.join(METHOD_NAMES)}) or optimizer name")
    run.add_argument("--budget", type=int, default=100, help="black-box evaluations")
    run.add_argument("--iterations", type=int, default=None, help="stop after N groups")
    run.add_argument("--model", default="smollm2-135m-instruct",
                     help="model alias (smollm2-135m-instruct, tiny-random), HF id or path")
    run.add_argument("--engine", default=None,
                     help="generation engine: hf (default), openvino (CPU), vllm (GPU)")
    run.add_argument("--storage", default="runs/migrate.db", help="SQLite file")
    run.add_argument("--study", default=None, help="study name (default: TASK-METHOD-sSEED)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--group-size", type=int, default=None, help="completions per group")
    run.add_argument("--top-k", type=int, default=None,
                     help="parents drawn from the top k (default: the task's)")
    run.add_argument("--learning-rate", type=float, default=None)
    run.add_argument("--steps-per-group", type=int, default=None, help="GRPO mu")
    run.add_argument("--temperature", type=float, default=1.0)
    run.add_argument("--max-new-tokens", type=int, default=None)
    run.add_argument("--executor", default="serial", help="serial, process, ray, ...")
    run.add_argument("--workers", type=int, default=2, help="process executor workers")
    run.add_argument("--timeout", type=float, default=None, help="seconds per evaluation")
    run.add_argument("--ray-address", default=None,
                     help="ray executor: cluster to join (auto, ray://host:port); none: local")
    run.add_argument("--cpus-per-eval", type=float, default=1.0,
                     help="ray executor: CPUs reserved by one evaluation")
    run.add_argument("--stop-when-solved", action="store_true")
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--help-task", action="store_true", help="list the task's options")

    resume = sub.add_parser("resume", help="continue a stored study where it stopped")
    resume.add_argument("storage")
    resume.add_argument("--study", default=None, help="needed when the file holds several")
    resume.add_argument("--budget", type=int, default=None, help="raise the budget")
    resume.add_argument("--engine", default=None,
                        help="generate with another engine (records stay the same)")
    resume.add_argument("--no-progress", action="store_true")

    show = sub.add_parser("show", help="a study's settings and best records")
    show.add_argument("storage")
    show.add_argument("--study", default=None)
    show.add_argument("--top", type=int, default=10)
    show.add_argument("--json", action="store_true", help="machine-readable output")

    report = sub.add_parser("report", help="write a study's self-contained HTML report")
    report.add_argument("storage")
    report.add_argument("--study", default=None, help="needed when the file holds several")
    report.add_argument("-o", "--output", default=None,
                        help="HTML file (default: STORAGE-STUDY.html next to the storage)")
    return p


# -- task options --------------------------------------------------------------------------
def parse_task_options(factory: Callable[..., Any], tokens: Sequence[str]) -> dict[str, Any]:
    """Turn ``--key value`` / ``--key=value`` / ``--flag`` tokens into keyword arguments of
    ``factory``, coerced by its type hints."""
    params = task_parameters(factory)
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
        options[name] = _coerce(value, kind, key)
        i += 1
    return options


def task_parameters(factory: Callable[..., Any]) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    out = {}
    for name, param in inspect.signature(factory).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        out[name] = _base_type(hints.get(name, str))
    return out


def _base_type(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, getattr(types, "UnionType", None)):
        return _base_type(args[0]) if args else str
    return hint if hint in (int, float, bool, str) else str


def _coerce(value: str, kind: Any, key: str) -> Any:
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
    from .presets import method
    from .registry import registry

    rows = [(m, "llm", method(m).description) for m in METHOD_NAMES]
    rows += [(e.name, "optimizer", e.description)
             for e in registry().entries["optimizer"].values() if e.name != "migrate"]
    _table(["method", "kind", "description"], rows)
    return 0


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    from .registry import registry

    factory = registry().entry("task", args.task).factory
    if args.help_task:
        for name, kind in task_parameters(factory).items():
            print(f"--{name.replace('_', '-')} ({kind.__name__})")
        return 0
    config = {k: v for k, v in vars(args).items() if k not in ("command", "verbose")}
    config["task_options"] = parse_task_options(factory, extra)
    config["study"] = args.study or f"{args.task}-{args.method}-s{args.seed}"
    return _execute(config, resume=False)


def cmd_resume(args: argparse.Namespace) -> int:
    from .storage import SQLiteDatabase, pick_study

    study = pick_study(args.storage, args.study)
    config = SQLiteDatabase(args.storage, study, readonly=True).settings().get("cli")
    if not config:
        raise ConfigError(f"study {study!r} was not started by `migrate-opt run`; resume it "
                          "from Python with the same objects")
    if args.budget is not None:
        config["budget"] = args.budget
    if args.engine is not None:
        config["engine"] = args.engine
    config["no_progress"] = args.no_progress
    return _execute(config, resume=True)


def _execute(config: dict[str, Any], *, resume: bool) -> int:
    from .loop import run
    from .storage import SQLiteDatabase

    db = SQLiteDatabase(config["storage"], config["study"])
    opt = build_optimizer(config, db)
    db.set_settings({**opt.settings(), "cli": config})
    executor = build_executor(config)
    verb = "resuming" if resume else "starting"
    print(f"{verb} study {config['study']!r} in {config['storage']} "
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


def build_optimizer(config: dict[str, Any], db: Any) -> Any:
    """The optimizer a CLI config describes (an LLM preset or a registered optimizer)."""
    from .registry import create, registry

    task = create("task", config["task"], **config["task_options"])
    if config["method"] not in METHOD_NAMES:
        return create("optimizer", config["method"], task, database=db, seed=config["seed"],
                      budget=config["budget"])
    from .migrate import Migrate
    from .policy.base import SamplingConfig

    grpo = None
    tweaks = {k: config[c] for k, c in (("learning_rate", "learning_rate"),
                                         ("steps_per_group", "steps_per_group"))
              if config.get(c) is not None}
    if tweaks:
        from .grpo import GRPOConfig

        grpo = GRPOConfig(**tweaks)
    engine = {"engine": config["engine"]} if config.get("engine") else {}
    policy = registry().entry("policy", config["model"]).factory(**engine) if config["model"] in (
        registry().entries["policy"]) else config["model"]
    if engine and isinstance(policy, str):
        from .policy import load_policy

        policy = load_policy(policy, **engine)
    return Migrate(
        task, policy=policy, method=config["method"], group_size=config.get("group_size"),
        top_k=config.get("top_k"), grpo=grpo, database=db, seed=config["seed"],
        budget=config["budget"],
        sampling=SamplingConfig(temperature=config.get("temperature", 1.0),
                                max_new_tokens=config.get("max_new_tokens")),
    )


def build_executor(config: dict[str, Any]) -> Any:
    from .registry import create

    name = config.get("executor", "serial")
    if name == "serial":
        return create("executor", "serial")
    options: dict[str, Any] = {"workers": config.get("workers", 2)}
    if name == "ray":
        options = {"address": config.get("ray_address"),
                   "num_cpus": config.get("cpus_per_eval", 1.0)}
    if config.get("timeout") is not None:
        options["timeout"] = config["timeout"]
    return create("executor", name, **options)


def cmd_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .learning import learning_curve
    from .storage import SQLiteDatabase, pick_study

    study = pick_study(args.storage, args.study)
    db = SQLiteDatabase(args.storage, study, readonly=True)
    settings = {k: v for k, v in db.settings().items() if k != "cli"}
    best = db.top(args.top)
    curve = learning_curve(db)
    if args.json:
        print(json.dumps({"study": study, "settings": settings, "evaluations": len(db),
                          "learning": asdict(curve), "best": [_record_json(r) for r in best]},
                         indent=2, default=str))
        return 0
    print(f"study {study!r} in {args.storage}: {len(db)} evaluations, "
          f"{db.last_iteration() + 1} iterations")
    for k, v in settings.items():
        print(f"  {k}: {json.dumps(v, default=str)}")
    _print_learning(curve)
    _print_best(best)
    return 0


def _print_learning(curve: Any) -> None:
    """The last iterations' on-policy mean reward and KL to base: is the model learning?"""
    if not curve.iterations:
        return
    rows = [(it, "-" if r is None else f"{r:.4f}", "-" if k is None else f"{k:.4f}")
            for it, r, k in list(zip(curve.iterations, curve.on_policy_reward, curve.kl))[-8:]]
    print("learning (last iterations):")
    _table(["iteration", "on-policy reward", "KL to base"], rows)
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
