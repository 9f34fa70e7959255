"""``OptimizerContract``: checks every optimizer behind migrate-opt's ask/tell must pass
(ask/tell invariants, exact budget accounting, reproducibility with a seed, resuming from
the database, tolerance of invalid scores, improvement over the first batch).

Also importable from ``migrate_opt.testing.contracts``. Subclass it and provide ``make``
(a factory ``make(task, **kwargs) -> Optimizer`` taking ``database``, ``seed`` and
``budget`` keywords)::

    class TestMine(OptimizerContract):
        @pytest.fixture
        def make(self):
            return lambda task, **kw: Mine(task, **kw)

Class attributes size the runs (``budget``, ``improve_budget``), say whether a resumed
run must propose exactly what an uninterrupted one does (``resume_exact``) and whether the
optimizer works from the task's search space (``needs_search_space``; an LLM optimizer
proposes from prompts and must work without one)."""

from __future__ import annotations

import copy
import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ..errors import AskError, BudgetExhausted, ConfigError, TellError
from ..loop import run
from ..optimizer import Optimizer
from ..storage import MemoryDatabase, SQLiteDatabase
from ..task import SearchSpace, Task
from ..values import Evaluation
from .toy import ToyTask

Factory = Callable[..., Optimizer]


class _Flaky:
    """Mixin: about a third of the solutions (by a hash of their text) are invalid."""

    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        scored = super().evaluate(solutions)  # type: ignore[misc]
        return [Evaluation.invalid("flaky") if zlib.crc32(s.encode()) % 3 == 0 else ev
                for s, ev in zip(solutions, scored)]


class _Minimized:
    """Mixin: the same objective negated, to be minimized (a search that honours the
    direction asks exactly what it asks of the original)."""

    direction = "minimize"

    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        scored = super().evaluate(solutions)  # type: ignore[misc]
        return [ev if ev.score is None else Evaluation(-ev.score, ev.info, ev.solved)
                for ev in scored]


class _NoSpace:
    """Mixin: the task has no search space."""

    def search_space(self) -> None:
        return None


def variant(task: Task, mixin: type) -> Task:
    """A copy of ``task`` whose class also inherits ``mixin`` (first)."""
    cls = type(f"{mixin.__name__.strip('_')}{type(task).__name__}", (mixin, type(task)), {})
    clone: Task = object.__new__(cls)
    clone.__dict__.update(copy.deepcopy(task.__dict__))
    return clone


class PoolSpace(SearchSpace):
    """Only a fixed pool of candidate solutions (no sampler, no operators)."""

    def __init__(self, length: int, size: int, seed: int) -> None:
        rng = random.Random(seed)
        drawn = ("".join(rng.choice("0123456789") for _ in range(length)) for _ in range(size))
        self._pool = list(dict.fromkeys(drawn))  # distinct, in the order drawn

    def pool(self) -> list[str]:
        return self._pool


class PoolToyTask(ToyTask):
    """The toy task whose search space is a pool of 3000 random candidates."""

    def search_space(self) -> SearchSpace:
        return PoolSpace(len(self.target), 3000, seed=7)


def solutions_of(opt: Optimizer) -> list[str]:
    return [r.solution for r in opt.database.records()]


class OptimizerContract:
    """Subclass and provide the ``make`` fixture."""

    budget = 40
    """Evaluations of the short runs."""
    improve_budget = 200
    """Evaluations allowed to beat the first batch."""
    resume_exact = True
    """A run resumed from its database asks exactly what an uninterrupted one would."""
    needs_search_space = True
    """The optimizer proposes from ``task.search_space()`` and must refuse a task without
    one; when False it must run on such a task instead."""

    @pytest.fixture
    def make(self) -> Factory:
        raise NotImplementedError("provide a `make` fixture: make(task, **kw) -> Optimizer")

    @pytest.fixture
    def task(self) -> Task:
        return ToyTask(target_seed=3, length=6)

    # -- ask/tell invariants -------------------------------------------------------------
    def test_ask_gives_canonical_new_solutions(self, make: Factory, task: Task) -> None:
        opt = make(task, seed=0, budget=self.budget)
        for _ in range(3):
            if opt.exhausted:
                break
            group = opt.ask()
            members = {s for m in group.members for s in m.solutions}
            assert group.pending, "an optimizer with budget left must propose something new"
            assert len(group.pending) <= opt.remaining  # type: ignore[operator]
            for s in group.solutions:
                assert task.canonicalize(s) == s
                assert s in members
                assert opt.database.get(s) is None
            opt.tell(group, task.evaluate(group.solutions))

    def test_tell_stores_exactly_the_pending(self, make: Factory, task: Task) -> None:
        opt = make(task, seed=0, budget=self.budget)
        group = opt.ask()
        records = opt.tell(group, task.evaluate(group.solutions))
        assert [r.solution for r in records] == group.solutions
        assert opt.n_evaluations == len(group.pending)
        assert opt.best(1)[0].score == max(r.score for r in records)  # type: ignore[type-var]

    def test_tell_rejects_bad_input_and_stores_nothing(self, make: Factory, task: Task) -> None:
        opt = make(task, seed=0, budget=self.budget)
        group = opt.ask()
        with pytest.raises(TellError):
            opt.tell(group, [0.5] * (len(group.pending) + 1))
        with pytest.raises(TellError):
            opt.tell(group, [float("nan")] * len(group.pending))
        assert opt.n_evaluations == 0
        opt.tell(group, task.evaluate(group.solutions))
        with pytest.raises(TellError):
            opt.tell(group, task.evaluate(group.solutions))

    def test_second_ask_is_refused_until_told_or_discarded(
        self, make: Factory, task: Task
    ) -> None:
        opt = make(task, seed=0, budget=self.budget)
        first = opt.ask()
        with pytest.raises(AskError, match="opt.discard"):
            opt.ask()
        opt.discard(first)
        fresh = opt.ask()
        with pytest.raises(TellError, match="discarded"):
            opt.tell(first, task.evaluate(first.solutions))
        opt.tell(fresh, task.evaluate(fresh.solutions))
        assert opt.n_evaluations == len(fresh.pending)
        opt.ask()  # told: the next ask goes through

    def test_minimize_searches_as_maximize_does(
        self, make: Factory, task: Task, tmp_path: Any
    ) -> None:
        path = str(tmp_path / "min.db")
        minimized = variant(task, _Minimized)
        if minimized.optimum is not None:
            minimized.optimum = -minimized.optimum
        up = make(task, seed=0, budget=self.budget)
        down = make(minimized, seed=0, budget=self.budget, database=SQLiteDatabase(path))
        run(up, progress=False)
        run(down, progress=False)
        assert solutions_of(down) == solutions_of(up)
        told = [v.score for v in minimized.evaluate(solutions_of(down))]
        best = down.best(3)
        assert [r.objective for r in best] == sorted(s for s in told if s is not None)[:3]
        assert down.solved == up.solved
        assert down.database.settings()["direction"] == "minimize"
        down.database.close()
        with pytest.raises(ConfigError, match="minimize"):
            make(task, seed=0, budget=self.budget, database=SQLiteDatabase(path))

    # -- budget --------------------------------------------------------------------------
    def test_budget_is_spent_exactly(self, make: Factory, task: Task) -> None:
        opt = make(task, seed=0, budget=self.budget)
        result = run(opt, progress=False)
        assert result.stopped == "budget"
        assert opt.n_evaluations == self.budget == len(set(solutions_of(opt)))
        with pytest.raises(BudgetExhausted):
            opt.ask()

    # -- reproducibility and resume ------------------------------------------------------
    def test_same_seed_same_run(self, make: Factory, task: Task) -> None:
        runs = []
        for seed in (0, 0, 1):
            opt = make(task, seed=seed, budget=self.budget)
            run(opt, progress=False)
            runs.append(solutions_of(opt))
        assert runs[0] == runs[1]
        assert runs[0] != runs[2]

    def test_resume_from_database(self, make: Factory, task: Task, tmp_path: Any) -> None:
        path = str(tmp_path / "study.db")
        half = self.budget // 2
        first = make(task, seed=0, budget=half, database=SQLiteDatabase(path))
        run(first, progress=False)
        first.database.close()
        resumed = make(task, seed=0, budget=self.budget, database=SQLiteDatabase(path))
        assert resumed.n_evaluations == half and resumed.iteration == first.iteration
        run(resumed, progress=False)
        assert resumed.n_evaluations == self.budget
        assert len(set(solutions_of(resumed))) == self.budget
        if self.resume_exact:
            straight = make(task, seed=0, budget=self.budget, database=MemoryDatabase())
            run(straight, budget=half, progress=False)
            run(straight, budget=self.budget, progress=False)
            assert solutions_of(resumed) == solutions_of(straight)

    # -- robustness and progress ---------------------------------------------------------
    def test_invalid_scores_are_tolerated(self, make: Factory, task: Task) -> None:
        task = variant(task, _Flaky)
        opt = make(task, seed=0, budget=self.budget)
        run(opt, progress=False)
        scores = [r.score for r in opt.database.records()]
        assert opt.n_evaluations == self.budget
        assert None in scores and any(s is not None for s in scores)
        assert opt.best(1)[0].score is not None

    def test_search_space_needed_or_not(self, make: Factory, task: Task) -> None:
        spaceless = variant(task, _NoSpace)
        if self.needs_search_space:
            with pytest.raises(ConfigError, match="search space"):
                make(spaceless, seed=0, budget=self.budget)
            return
        opt = make(spaceless, seed=0, budget=self.budget)
        group = opt.ask()
        assert group.pending, "an optimizer without a search space must still propose"
        opt.tell(group, spaceless.evaluate(group.solutions))
        assert opt.n_evaluations == len(group.pending)

    def test_improves_over_first_batch(self, make: Factory, task: Task) -> None:
        opt = make(task, seed=0, budget=self.improve_budget)
        first = opt.ask()
        first_best = max(e.score for e in task.evaluate(first.solutions))  # type: ignore[type-var]
        opt.tell(first, task.evaluate(first.solutions))
        run(opt, progress=False)
        assert opt.best(1)[0].score > first_best  # type: ignore[operator]
