"""``ExecutorContract``: what every executor must do (scores in the order asked, a raising
objective costs one invalid score, the executor stays usable; isolating executors also
survive a hang and a crash; parallel ones really overlap evaluations).

Subclass it and provide an ``executor`` fixture (configured with a short ``timeout`` when
``isolates`` is true)::

    class TestMine(ExecutorContract):
        parallel = 2

        @pytest.fixture(scope="class")
        def executor(self):
            with MyExecutor(workers=2, timeout=2.0) as ex:
                yield ex
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..executors import Executor
from ..values import Evaluation
from .events import Rendezvous
from .hostile import HostileTask
from .toy import ToyTask


class ExecutorContract:
    """Subclass and provide the ``executor`` fixture."""

    isolates = True
    """Evaluations run outside this process: a hang times out and a crash is survived."""
    parallel = 1
    """Evaluations the fixture runs at once (>= 2 checks that they really overlap)."""
    crash_reason = "crash"
    """Text the executor puts in ``info["error"]`` when a worker died."""

    @pytest.fixture
    def executor(self) -> Executor:
        raise NotImplementedError("provide an `executor` fixture")

    @pytest.fixture
    def patient_executor(self, executor: Executor) -> Executor:
        """The executor for checks whose evaluations wait on each other (the overlap check):
        override it with one whose timeout is long where ``executor``'s is short, since a
        worker that starts late on a loaded machine must not be timed out."""
        return executor

    def test_scores_in_the_order_asked(self, executor: Executor) -> None:
        out = executor.evaluate(HostileTask(), ["3", "1", "2", "5", "8"])
        assert [e.score for e in out] == [3.0, 1.0, 2.0, 5.0, 8.0]

    def test_nothing_to_evaluate(self, executor: Executor) -> None:
        assert executor.evaluate(HostileTask(), []) == []

    def test_a_raising_objective_costs_one_score(self, executor: Executor) -> None:
        out = executor.evaluate(HostileTask(), ["1", "raise", "2"])
        assert [e.score for e in out] == [1.0, None, 2.0]
        assert "objective failed" in out[1].info["error"]
        assert [e.score for e in executor.evaluate(HostileTask(), ["4"])] == [4.0]

    def test_hang_and_crash_cost_one_score_each(self, executor: Executor) -> None:
        if not self.isolates:
            pytest.skip("this executor runs evaluations in the calling process")
        out = executor.evaluate(HostileTask(), ["1", "hang", "crash", "2"])
        assert [e.score for e in out] == [1.0, None, None, 2.0]
        assert "timeout" in out[1].info["error"]
        assert self.crash_reason in out[2].info["error"]
        # the executor still works, with fresh workers replacing the dead ones
        assert [e.score for e in executor.evaluate(HostileTask(), ["7", "8"])] == [7.0, 8.0]

    def test_evaluations_overlap(self, patient_executor: Executor, tmp_path: Path) -> None:
        if self.parallel < 2:
            pytest.skip("this executor evaluates one solution at a time")
        # Each evaluation waits for all the others: it passes only if they run at once.
        meet = Rendezvous(tmp_path, self.parallel, timeout=60)
        solutions = [str(i) for i in range(self.parallel)]
        out = patient_executor.evaluate(HostileTask(meet=meet), solutions)
        assert [e.score for e in out] == [float(s) for s in solutions]
        assert len({e.info["pid"] for e in out}) == self.parallel

    def test_evaluation_type_survives(self, executor: Executor) -> None:
        (ev,) = executor.evaluate(ToyTask(), ["4213"])
        assert isinstance(ev, Evaluation) and ev.solved and ev.info == {"right": 4}
