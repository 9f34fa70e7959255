"""Contract test suites that plugin test suites subclass (as Optuna ships
``optuna.testing.pytest_storages``). Subclass, provide the fixtures, and pytest runs every
check against your implementation::

    class TestMyTask(TaskContract):
        @pytest.fixture
        def task(self):
            return MyTask()

        @pytest.fixture
        def good_completion(self):
            return '["a valid answer"]'
"""

from __future__ import annotations

import json
import pickle
import random
from typing import Any

import pytest

from ..errors import MigrateOptError
from ..samplers import Sampler, SamplerContext
from ..storage import Database
from ..task import Task
from ..task.grammar import Grammar
from ..task.grammar import available as grammars_available
from ..values import Evaluation, Proposal, Record

ADVERSARIAL_COMPLETIONS = [
    "", " ", "\n\n", "[]", "{}", "null", "[[[[", "]]]", '["', "\x00\x01\x02", "ünïcødé ✓ 🤖",
    "```python\n```", "```", "a" * 10_000, '{"a": [1, 2, {"b": null}]}', "[1, 2, 3]",
    "'; DROP TABLE records; --", "\\u0000", '["' + "x" * 5000 + '"]', "NaN", "-1e309",
]


class TaskContract:
    """Checks every task must pass. Fixtures: ``task`` and ``good_completion`` (a
    completion that parses to at least one valid solution)."""

    @pytest.fixture
    def task(self) -> Task:
        raise NotImplementedError("provide a `task` fixture")

    @pytest.fixture
    def good_completion(self) -> str:
        raise NotImplementedError("provide a `good_completion` fixture")

    def _solutions(self, task: Task, completion: str) -> list[str]:
        canon = [task.canonicalize(s) for s in task.parse(completion)]
        return [c for c in canon if c is not None]

    def test_prompt_is_text(self, task: Task) -> None:
        assert isinstance(task.prompt(), str) and task.prompt().strip()

    def test_good_completion_parses(self, task: Task, good_completion: str) -> None:
        assert self._solutions(task, good_completion)

    def test_canonicalize_is_idempotent(self, task: Task, good_completion: str) -> None:
        for s in self._solutions(task, good_completion):
            assert task.canonicalize(s) == s

    def test_render_round_trips(self, task: Task, good_completion: str) -> None:
        sols = self._solutions(task, good_completion)
        assert self._solutions(task, task.render(sols[:1])) == sols[:1]

    def test_parse_never_raises(self, task: Task) -> None:
        for text in ADVERSARIAL_COMPLETIONS:
            out = task.parse(text)
            assert isinstance(out, list)
            for s in out:
                assert isinstance(s, str)
                task.canonicalize(s)

    def test_evaluate_one_per_solution(self, task: Task, good_completion: str) -> None:
        sols = self._solutions(task, good_completion)
        evs = task.evaluate(sols)
        assert len(evs) == len(sols)
        assert all(isinstance(e, Evaluation) for e in evs)
        assert task.evaluate([]) == []

    def test_prompts_from_records(self, task: Task, good_completion: str) -> None:
        sol = self._solutions(task, good_completion)[0]
        rec = Record(solution=sol, score=0.5, completion=good_completion)
        assert sol in task.neighborhood_prompt(rec) or task.render([sol]) in (
            task.neighborhood_prompt(rec)
        )
        assert isinstance(task.opro_prompt([rec, rec]), str)

    def test_picklable(self, task: Task) -> None:
        # round-trips an object this test built, in memory: nothing untrusted is read
        clone = pickle.loads(pickle.dumps(task))
        assert clone.prompt() == task.prompt()

    def test_settings_json(self, task: Task) -> None:
        settings = task.settings()
        assert json.loads(json.dumps(settings)) == settings

    def test_answer_grammar_allows_the_response_prefix(self, task: Task) -> None:
        grammar = task.answer_grammar
        if grammar is None:
            return
        assert isinstance(grammar, Grammar)
        if grammars_available():
            grammar.check_prefix(task.response_prefix)


class SamplerContract:
    """Checks every sampler must pass. Fixtures: ``sampler`` and ``task``."""

    @pytest.fixture
    def sampler(self) -> Sampler:
        raise NotImplementedError

    @pytest.fixture
    def task(self) -> Task:
        from .toy import ToyTask

        return ToyTask()

    def _ctx(self, task: Task, db: Database, iteration: int = 0) -> SamplerContext:
        return SamplerContext(task, db, random.Random(iteration), iteration)

    def _filled(self, task: Task) -> Database:
        from ..storage import MemoryDatabase

        db = MemoryDatabase()
        db.add([Record(solution=f"{i:04d}", score=i / 10, completion=f'["{i:04d}"]')
                for i in range(6)])
        return db

    def test_empty_database(self, sampler: Sampler, task: Task) -> None:
        from ..storage import MemoryDatabase

        props = sampler.propose(self._ctx(task, MemoryDatabase()), 3)
        assert len(props) <= 3
        assert all(isinstance(p, Proposal) for p in props)

    def test_counts_and_types(self, sampler: Sampler, task: Task) -> None:
        props = sampler.propose(self._ctx(task, self._filled(task)), 4)
        assert 0 < len(props) <= 4
        for p in props:
            assert (p.prompt is None) != (p.replay is None)
            assert p.source

    def test_reproducible(self, sampler: Sampler, task: Task) -> None:
        db = self._filled(task)
        assert sampler.propose(self._ctx(task, db, 5), 4) == sampler.propose(
            self._ctx(task, db, 5), 4
        )


class DatabaseContract:
    """Checks every database must pass. Fixture: ``db`` (a fresh, empty database)."""

    @pytest.fixture
    def db(self) -> Database:
        raise NotImplementedError

    def _rec(self, sol: str, score: float | None, **kw: Any) -> Record:
        return Record(solution=sol, score=score, **kw)

    def test_add_assigns_seq_and_dedups(self, db: Database) -> None:
        stored = db.add([self._rec("a", 1.0), self._rec("b", None)])
        assert [r.seq for r in stored] == [0, 1]
        assert len(db) == 2
        with pytest.raises(MigrateOptError):
            db.add([self._rec("a", 2.0)])
        assert len(db) == 2 and db.get("a").score == 1.0  # type: ignore[union-attr]

    def test_add_is_atomic(self, db: Database) -> None:
        db.add([self._rec("a", 1.0)])
        with pytest.raises(MigrateOptError):
            db.add([self._rec("b", 1.0), self._rec("a", 0.0)])
        assert db.get("b") is None and len(db) == 1

    def test_top_orders_and_skips_invalid(self, db: Database) -> None:
        db.add([self._rec("a", 0.2), self._rec("b", None), self._rec("c", 0.9),
                self._rec("d", 0.9)])
        assert [r.solution for r in db.top(10)] == ["c", "d", "a"]
        assert [r.solution for r in db.top(1)] == ["c"]

    def test_round_trip_fields(self, db: Database) -> None:
        r = self._rec("x", 0.5, info={"k": [1, 2]}, solved=True, source="greedy", iteration=3,
                      completion='["x"]', tags={"island": 1})
        db.add([r])
        got = db.get("x")
        assert got is not None
        for f in ("solution", "score", "solved", "source", "iteration", "completion"):
            assert getattr(got, f) == getattr(r, f)
        assert dict(got.info) == {"k": [1, 2]} and dict(got.tags) == {"island": 1}
        assert db.get_many(["x", "nope"]).keys() == {"x"}

    def test_groups_metrics_checkpoints_settings(self, db: Database) -> None:
        assert db.last_iteration() == -1 and db.load_checkpoint() is None
        db.add([self._rec("a", 1.0)], group=(0, [{"completion": "c", "reward": 1.0}]))
        db.add([], group=(1, []))
        assert db.last_iteration() == 1
        assert db.groups()[0] == (0, [{"completion": "c", "reward": 1.0}])
        db.log_metrics(0, [{"loss": 0.5}, {"loss": 0.25}])
        assert [m["loss"] for m in db.metrics()] == [0.5, 0.25]
        db.save_checkpoint(0, b"one")
        db.save_checkpoint(1, b"two")
        assert db.load_checkpoint() == (1, b"two")
        db.set_settings({"task": "toy", "seed": 1})
        assert db.settings() == {"task": "toy", "seed": 1}


from .engines import EngineContract  # noqa: E402  (suites kept in their own modules)
from .optimizers import OptimizerContract  # noqa: E402
from .policies import PolicyContract, TrainablePolicyContract  # noqa: E402

__all__ = ["DatabaseContract", "EngineContract", "OptimizerContract", "PolicyContract",
           "SamplerContract", "TaskContract", "TrainablePolicyContract"]
