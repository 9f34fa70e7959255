"""Warm start: score some random common words before the search, as the paper's runs do
(20 guesses), so the first group already has parents. They count in the budget."""

from __future__ import annotations

from migrate_opt import Executor, Optimizer, Record, SerialExecutor

SOURCE = "warm_start"


def warm_start(opt: Optimizer, executor: Executor | None = None) -> list[Record]:
    """Evaluate ``opt.task.warm_start_solutions()`` and store them in the optimizer's
    database (as told points that were never asked). Does nothing on a database that already
    holds records (a resumed run), or for a task without warm-start words."""
    solutions_of = getattr(opt.task, "warm_start_solutions", None)
    if solutions_of is None or len(opt.database):
        return []
    solutions = [s for s in solutions_of() if opt.task.canonicalize(s) == s]
    if opt.budget is not None:
        solutions = solutions[: opt.budget]
    if not solutions:
        return []
    evaluations = (executor or SerialExecutor()).evaluate(opt.task, solutions)
    records = [
        Record(solution=s, score=e.score, info=dict(e.info), solved=opt.task.is_solved(e),
               source=SOURCE, iteration=-1, completion=opt.task.render([s]))
        for s, e in zip(solutions, evaluations)
    ]
    return opt.database.add(records)
