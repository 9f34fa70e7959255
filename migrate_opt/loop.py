"""``run``: a plain loop over ask/tell with a progress bar. Users who need their own loop
lose nothing by writing it themselves."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .executors import Executor, SerialExecutor
from .optimizer import RUNS_KEY, Optimizer
from .usage import Usage, members_usage
from .values import Group, Record

log = logging.getLogger(__name__)

DEFAULT_PATIENCE = 50
"""Groups in a row that may bring no new solution before ``run`` stops as "stale"."""
PARTS = ("generate", "evaluate", "train", "checkpoint", "store")
"""Where an iteration's wall time goes (``Group.timings`` keys)."""
RESULT_TOP = 10
"""How many of the best records ``run`` returns."""
Callback = Callable[[Optimizer, Group, list[Record]], None]
"""Called after every tell with the optimizer, the group and its new records."""


@dataclass
class RunResult:
    best: list[Record]
    """The ``RESULT_TOP`` best distinct solutions, best first (the database holds all)."""
    evaluations: int
    iterations: int
    solved: bool
    stopped: str
    """Why the loop ended: budget, iterations, solved, or stale (``patience`` groups in a
    row brought no new solution: the model only repeats what it found)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time split into generate, evaluate, train, checkpoint, store and other (and ask:
    the whole of proposing, generation included)."""
    usage: Usage = field(default_factory=Usage)
    """Tokens (and cost) this run's groups took (migrate_opt.usage)."""


def run(
    opt: Optimizer,
    *,
    budget: int | None = None,
    iterations: int | None = None,
    executor: Executor | None = None,
    callbacks: Sequence[Callback] = (),
    stop_when_solved: bool = False,
    patience: int = DEFAULT_PATIENCE,
    progress: bool = True,
) -> RunResult:
    """Ask, evaluate, tell until the budget (total evaluations, resumed ones included) is
    spent, ``iterations`` more groups were told, the task is solved (if asked), or
    ``patience`` groups in a row brought no new evaluation."""
    if patience < 1:
        raise ConfigError(f"patience must be >= 1 group, got {patience}")
    if budget is not None and budget != opt.budget:
        opt.set_budget(budget)
    if opt.budget is None and iterations is None:
        raise ValueError("give a budget or a number of iterations, or the loop never ends")
    executor = executor or SerialExecutor()
    warm_start(opt, executor)
    seconds = dict.fromkeys((*PARTS, "ask", "total"), 0.0)  # ask: generate or a model's
    bar = _progress_bar(opt, progress, iterations)
    done, stale, usage = 0, 0, Usage()
    log_entry = RunLog(opt, patience)
    stopped: str | None = None
    try:
        while (stopped := _stop_reason(opt, done, iterations, stale, patience,
                                       stop_when_solved)) is None:
            group, records = _one_group(opt, executor)
            for k in seconds:
                seconds[k] += group.timings.get(k, 0.0)
            done += 1
            stale = 0 if records else stale + 1
            usage = usage + members_usage(group.members)
            log_entry.store(done, seconds)
            _update_bar(bar, opt, group, len(records), usage)
            for cb in callbacks:
                cb(opt, group, records)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # the log must not hide why the run ended
            log_entry.store(done, seconds, "interrupted" if isinstance(exc, KeyboardInterrupt)
                            else f"error ({type(exc).__name__})")
        raise
    finally:
        if bar is not None:
            bar.close()
        opt.flush()  # a checkpoint at the end, so a resume replays nothing
    seconds["other"] = seconds["total"] - sum(seconds[k] for k in PARTS)
    log_entry.store(done, seconds, stopped)
    return RunResult(opt.best(RESULT_TOP), opt.n_evaluations, done, opt.solved, stopped, seconds,
                     usage)


class RunLog:
    """This ``run`` call's entry in the study's run log (``RUNS_KEY`` in its settings)."""

    def __init__(self, opt: Optimizer, patience: int) -> None:
        self.opt = opt
        self.index: int | None = None
        self.entry: dict[str, Any] = {"started": time.time(), "patience": patience,
                      "evaluations_before": opt.n_evaluations}

    def store(self, groups: int, seconds: dict[str, float], stopped: str | None = None
              ) -> None:
        if not getattr(self.opt, "_settings_written", True):
            return  # nothing was asked: the study holds nothing this run did
        db = self.opt.database
        settings = db.settings()
        runs = list(settings.get(RUNS_KEY) or [])
        if self.index is None:
            self.index = len(runs)
            runs.append({})
        self.entry.update(stopped=stopped, groups=groups, evaluations=self.opt.n_evaluations,
                          budget=self.opt.budget, ended=time.time(),
                          seconds={k: round(v, 3) for k, v in seconds.items()})
        runs[self.index] = dict(self.entry)
        db.set_settings({**settings, RUNS_KEY: runs})


def _stop_reason(opt: Optimizer, done: int, iterations: int | None, stale: int, patience: int,
                 stop_when_solved: bool) -> str | None:
    """Why the loop stops now (budget, iterations, solved, stale), or None to go on."""
    if opt.exhausted:
        return "budget"
    if iterations is not None and done >= iterations:
        return "iterations"
    if stop_when_solved and opt.solved:
        return "solved"
    if stale >= patience:
        log.warning("stale: %d groups in a row brought no new solution (every completion "
                    "repeated a stored one); stopping. Raise patience (--patience) to wait "
                    "longer, or sample more widely (a higher temperature)", stale)
        return "stale"
    return None


def _one_group(opt: Optimizer, executor: Executor) -> tuple[Group, list[Record]]:
    """Ask, evaluate and tell one group, timing each part into ``group.timings``."""
    start = time.perf_counter()
    group = opt.ask()
    t0 = time.perf_counter()
    try:
        evaluations = executor.evaluate(opt.task, group.solutions)
        group.timings["evaluate"] = time.perf_counter() - t0
        records = opt.tell(group, evaluations)
    except BaseException:  # Ctrl-C or a failing black box: the next run asks afresh
        if not group.told:
            opt.discard(group)
        raise
    group.timings["total"] = time.perf_counter() - start
    return group, records


def warm_start(opt: Optimizer, executor: Executor | None = None) -> list[Record]:
    """Evaluate the task's warm-start solutions into an empty database (a resumed run is
    not warm-started twice); they count in the budget."""
    if len(opt.database):
        return []
    solutions = list(opt.task.warm_start_solutions())[: opt.remaining or None]
    if not solutions:
        return []
    evaluations = (executor or SerialExecutor()).evaluate(opt.task, solutions)
    return opt.tell_unasked(solutions, evaluations, source="warm_start")


def _progress_bar(opt: Optimizer, enabled: bool, iterations: int | None):  # type: ignore[no-untyped-def]
    if not enabled:
        return None
    from tqdm.auto import tqdm

    by_evaluations = iterations is None  # the bar counts what will stop the run
    total = opt.budget if by_evaluations else iterations
    return tqdm(total=total, initial=opt.n_evaluations if by_evaluations else 0,
                unit="eval" if by_evaluations else "it", desc=opt.task.name,
                dynamic_ncols=True)


def _update_bar(bar, opt: Optimizer, group: Group, new: int, usage: Usage) -> None:  # type: ignore[no-untyped-def]
    if bar is None:
        return
    bar.update(new if bar.unit == "eval" else 1)
    best = opt.best(1)
    bar.set_postfix(  # in this order: tqdm sorts keyword postfixes by name
        ordered_dict={
            "best": f"{best[0].objective:.4f}" if best else "-",
            "of": _glimpse(best[0].solution) + (" (solved)" if best[0].solved else "")
            if best else "-",
            "it": group.iteration,
            "evals": opt.n_evaluations,
            "new": new,  # falling to 0: the model repeats what it already found
            **opt.progress(group),
            **_tokens(usage),
            "sec": f"{group.timings.get('total', 0.0):.1f}",
        },
        refresh=False,
    )


def _tokens(usage: Usage) -> dict[str, str]:
    """Tokens this run sampled so far and, when priced, their cost."""
    if not usage.tokens:
        return {}
    out = {"tok": f"{usage.tokens:,}"}
    if usage.cost is not None:
        out["cost"] = f"{usage.cost:.4f}"
    return out


def _glimpse(solution: str, width: int = 24) -> str:
    """The best solution on one short line: a word or SMILES whole, a program's start."""
    flat = " ".join(solution.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."
