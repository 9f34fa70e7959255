"""The ask/tell protocol every optimizer implements.

Public ``ask``/``tell`` enforce the invariants (budget, dedup, validation, storage);
subclasses implement ``_ask`` (propose group members) and ``_after_tell`` (learn from a
stored group), as Nevergrad separates ``ask`` from ``_internal_ask_candidate``."""

from __future__ import annotations

import inspect
import json
import logging
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from .errors import AskError, BudgetExhausted, ConfigError, StorageError, TellError
from .storage import Database, MemoryDatabase
from .task import Task, split_task_options
from .values import Candidate, Evaluation, Group, Member, Record, check_direction, with_direction

log = logging.getLogger(__name__)

Result = float | int | None | Evaluation
RUNS_KEY = "runs"
"""Settings key of the study's run log (``loop.run`` keeps it): the one key stored beside
the record."""

SCORE_LIMIT = 1e100
"""Largest score magnitude ``tell`` accepts. Scores become GRPO rewards, and the group
statistics (means, squared deviations, sums over a group) are float64: within ±1e100 they
cannot overflow, while ±1e308 (a common "failed" sentinel) overflows the first square and
±1e150 the variance of a large group. Refusing at ``tell``, before anything is stored,
keeps a study file that every later reopen can train on; a failed evaluation is ``None``."""


class Optimizer(ABC):
    """Base class: owns the task, the database, the budget and the iteration counter."""

    name = "optimizer"

    def __init__(
        self,
        task: Task,
        *,
        database: Database | None = None,
        seed: int = 0,
        budget: int | None = None,
    ) -> None:
        if budget is not None and budget < 1:
            raise ConfigError(f"budget must be >= 1 evaluations, got {budget}")
        self.task = task
        self.database = database if database is not None else MemoryDatabase()
        self.seed = seed
        self.budget = budget
        self.id = uuid.uuid4().hex
        self.direction = _study_direction(task, self.database)
        self.iteration = self.database.last_iteration() + 1
        self._open: Group | None = None
        self._settings_written = False
        self._ask_timings: dict[str, float] = {}
        """Seconds ``_ask`` spent on named parts (Migrate: generate), added to the group's."""

    # -- state ---------------------------------------------------------------------------
    @property
    def n_evaluations(self) -> int:
        """Black-box evaluations of new unique solutions so far (the budget's unit)."""
        return len(self.database)

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else max(self.budget - self.n_evaluations, 0)

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0

    @property
    def solved(self) -> bool:
        best = self.database.top(1)
        return bool(best) and best[0].solved  # judged by the task when it was told

    def best(self, k: int = 1) -> list[Record]:
        """The ``k`` best distinct valid solutions found so far, best first (each record's
        ``objective`` is the value as told; ``score`` is negated when minimizing)."""
        return with_direction(self.database.top(k), self.direction)

    def settings(self) -> dict[str, Any]:
        """The study's record: data enough to build this run again (``migrate-opt resume``,
        ``show`` and ``report`` read it, whoever wrote it): the registered optimizer, its
        config with the effective values, the task and its data options, and the run's seed
        and budget. Never an executor, a path to write or code to import."""
        return {
            "optimizer": self.name,
            "config": self.config_mapping(),
            "direction": self.direction,
            "task": self.task.name,
            "task_options": task_options_of(self.task),
            "run": {"seed": self.seed, "budget": self.budget},
        }

    def config_mapping(self) -> dict[str, Any]:
        """This optimizer's options as data its registered factory takes back as
        ``config=``. Default: none."""
        return {}

    def write_settings(self) -> None:
        """Store the record (:meth:`settings`) with the study, replacing whatever else was
        stored (an older version's command line, keys a hand edited in) but the loop's run
        log. The
        first ``ask`` or ``tell_unasked`` calls this, so building an optimizer on a stored
        study changes nothing in it."""
        log = self.database.settings().get(RUNS_KEY)
        self.database.set_settings({**self.settings(), **({RUNS_KEY: log} if log else {})})
        self._settings_written = True

    def set_budget(self, budget: int | None) -> None:
        """Raise (or lower) the evaluation budget; stored with the settings."""
        if budget is not None and budget < 1:
            raise ConfigError(f"budget must be >= 1 evaluations, got {budget}")
        self.budget = budget
        if self._settings_written:
            self.write_settings()

    # -- ask -----------------------------------------------------------------------------
    def ask(self) -> Group:
        """Propose the next group; ``group.pending`` are the solutions to evaluate."""
        if self.exhausted:
            raise BudgetExhausted(
                f"the budget of {self.budget} evaluations is spent; raise `budget` to go on"
            )
        if self._open is not None and not self._open.told:
            # One group at a time: MiGrATe learns from each group before sampling the next,
            # and a second group would be numbered and trained as the same iteration.
            raise AskError(
                f"group {self._open.iteration} was asked and not told yet: tell it first "
                "(opt.tell(group, scores), None for a failed evaluation), or "
                "opt.discard(group) to drop it"
            )
        if not self._settings_written:
            self.write_settings()
        start = time.perf_counter()
        self._ask_timings = {}
        members = self._ask()
        group = self._assemble(members)
        group.timings.update(self._ask_timings)
        group.timings["ask"] = time.perf_counter() - start
        self._open = group
        return group

    def discard(self, group: Group) -> None:
        """Drop an asked group without telling it (its evaluations failed, or you stopped);
        nothing is stored and the next ``ask`` proposes afresh."""
        if group is self._open:
            self._open = None

    @abstractmethod
    def _ask(self) -> list[Member]:
        """The members of the next group (replays included), solutions canonicalised."""

    def _assemble(self, members: list[Member]) -> Group:
        """Split members' solutions into known (free) and pending (to evaluate), drop
        solutions beyond the remaining budget, and mark members that only repeat."""
        limit = self.remaining
        known = self.database.get_many([s for m in members for s in m.solutions])
        pending: dict[str, Candidate] = {}
        source_of: dict[str, Member] = {}
        kept: list[Member] = []
        for m in members:
            sols = []
            for s in m.solutions:
                if s not in known and s not in pending:
                    if limit is not None and len(pending) >= limit:
                        continue  # over budget: this solution is not part of the group
                    pending[s] = Candidate(s, len(pending))
                    source_of[s] = m
                sols.append(s)
            if m.solutions and not sols:
                continue
            m.solutions = tuple(sols)
            m.repeat = not m.is_replay and bool(sols) and all(s in known for s in sols)
            kept.append(m)
        return Group(self.id, self.iteration, kept, tuple(pending.values()), known, source_of)

    # -- tell ----------------------------------------------------------------------------
    def tell(self, group: Group, results: Sequence[Result]) -> list[Record]:
        """Store the evaluations of ``group.pending`` (same order) and learn from the group.

        ``results`` items are floats, ``None`` (invalid) or :class:`Evaluation`. On bad input
        a :class:`TellError` is raised before anything is stored."""
        evaluations = self._validate(group, results)
        start = time.perf_counter()
        records = [
            self._new_record(group, c, ev) for c, ev in zip(group.pending, evaluations)
        ]
        scores = {s: r.score for s, r in group.known.items()}
        scores.update({r.solution: r.score for r in records})
        for m in group.members:
            valid = [v for v in (scores.get(s) for s in m.solutions) if v is not None]
            m.reward = max(valid) if valid else None
        stored = self.database.add(
            records, group=(group.iteration, [member_to_dict(m) for m in group.members])
        )
        group.told = True
        self.iteration = group.iteration + 1
        group.timings["store"] = time.perf_counter() - start
        self._after_tell(group, stored)
        return stored

    def _validate(self, group: Group, results: Sequence[Result]) -> list[Evaluation]:
        if not isinstance(group, Group) or group.optimizer_id != self.id:
            raise TellError("this group was not asked from this optimizer")
        if group.told:
            raise TellError(f"group of iteration {group.iteration} was already told")
        if group is not self._open:
            raise TellError("this group was discarded (opt.discard); ask a new one")
        if isinstance(results, (str, bytes)) or not isinstance(results, Sequence):
            raise TellError(f"results must be a sequence, got {type(results).__name__}")
        if len(results) != len(group.pending):
            raise TellError(
                f"expected {len(group.pending)} results (one per group.pending), "
                f"got {len(results)}"
            )
        evaluations = [_to_evaluation(r, i) for i, r in enumerate(results)]
        _check_storable(evaluations)
        return evaluations

    def _stored_score(self, ev: Evaluation) -> float | None:
        """Records hold higher-is-better scores, so that every optimizer, sampler and
        database ranks the same way: a minimized objective is stored negated."""
        if ev.score is None or self.direction == "maximize":
            return ev.score
        return -ev.score

    def _new_record(self, group: Group, c: Candidate, ev: Evaluation) -> Record:
        m = group.source_of[c.solution]
        return Record(
            solution=c.solution, score=self._stored_score(ev), info=dict(ev.info),
            solved=self.task.is_solved(ev), source=m.source, iteration=group.iteration,
            completion=m.completion, tags=dict(m.tags), direction=self.direction,
        )

    def tell_unasked(
        self, solutions: Sequence[str], results: Sequence[Result], source: str = "warm_start"
    ) -> list[Record]:
        """Store evaluations of solutions that were never asked (warm starts, imported
        history); they count in the budget. Solutions already stored are skipped."""
        if len(results) != len(solutions):
            raise TellError(f"expected {len(solutions)} results, got {len(results)}")
        evaluations = [_to_evaluation(r, i) for i, r in enumerate(results)]
        _check_storable(evaluations)
        if not self._settings_written:
            self.write_settings()
        fresh: dict[str, Record] = {}
        for s, ev in zip(solutions, evaluations):
            canon = self.task.canonicalize(s)
            if canon is None or canon in fresh or self.database.get(canon) is not None:
                continue
            fresh[canon] = Record(
                solution=canon, score=self._stored_score(ev), info=dict(ev.info),
                solved=self.task.is_solved(ev), source=source, iteration=-1,
                completion=self.task.render([canon]), direction=self.direction,
            )
        return self.database.add(list(fresh.values()))

    def _after_tell(self, group: Group, records: list[Record]) -> None:
        """Learn from a stored group (GRPO step, population update). Default: nothing."""

    def flush(self) -> None:
        """Write what is kept in memory between checkpoints (training state) into the
        database; ``run`` calls it when it ends. Default: nothing (stored groups suffice)."""

    def restore(self, *, discard_checkpoint: bool = False) -> None:
        """Load what the optimizer keeps beside the records (a training checkpoint) before a
        resumed run writes anything. Default: nothing; the records are the state."""

    def progress(self, group: Group) -> dict[str, str]:
        """What a progress bar shows about ``group`` besides the scores (Migrate: the
        on-policy reward and the KL to base). Default: nothing."""
        return {}


def task_options_of(task: Task) -> dict[str, Any]:
    """The task's options as stored with a study: those it was built with by name
    (``create_task``) over what its ``settings()`` reports of its constructor's options;
    never its name or the options it
    declares as the environment's (``Task.environment_options``: limits, isolation, code to
    import), which whoever resumes gives again."""
    given = getattr(task, "built_with", None)
    try:  # what the task reports of its constructor's options, for a task built directly
        params = inspect.signature(type(task)).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    described = {k: v for k, v in task.settings().items() if k in params and k != "task"}
    options = {**described, **(given if isinstance(given, dict) else {})}
    return split_task_options(type(task), options)[0]


def _study_direction(task: Task, database: Database) -> str:
    """The task's direction, which must be the stored study's: the direction is data of the
    study (its settings), so a resumed study ranks as it always did, and continuing one
    with the opposite direction would rank its stored scores backwards."""
    direction = check_direction(getattr(task, "direction", "maximize"))
    stored = database.settings().get("direction")
    if stored is not None and stored != direction:
        raise ConfigError(
            f"this study was run to {stored} its objective and the task now says "
            f"{direction}: give the task direction={stored!r} to continue it, or start a "
            "new study"
        )
    return direction


def _check_storable(evaluations: Sequence[Evaluation]) -> None:
    for i, ev in enumerate(evaluations):
        check_score(ev.score, f"result {i}", TellError)
        try:
            json.dumps(dict(ev.info), default=str)
        except (TypeError, ValueError) as exc:
            msg = f"result {i}: info must be JSON-like (string keys): {exc}"
            raise TellError(msg) from None


def check_score(score: object, what: str, error: type[Exception]) -> None:
    """Raise ``error`` unless ``score`` is None or a finite number within SCORE_LIMIT."""
    if score is None:
        return
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise error(f"{what}: a score must be a number or None, got {score!r}")
    if not abs(score) <= SCORE_LIMIT:  # also refuses nan, inf and ints past any float
        try:
            shown = f"{float(score):.3g}"
        except OverflowError:
            shown = "an integer past any float"
        raise error(
            f"{what} is {shown}, beyond the allowed magnitude {SCORE_LIMIT:g}; report a "
            "failed evaluation as None, or rescale the objective"
        )


def _to_evaluation(r: Result, i: int) -> Evaluation:
    if isinstance(r, Evaluation):
        return r
    if r is None:
        return Evaluation.invalid("reported invalid")
    if isinstance(r, bool) or not isinstance(r, (int, float)):
        raise TellError(f"result {i} must be a float, None or Evaluation, got {r!r}")
    if isinstance(r, float) and not math.isfinite(r):
        raise TellError(f"result {i} is {r}; report a failed evaluation as None instead")
    check_score(r, f"result {i}", TellError)
    return Evaluation(float(r))


MEMBER_FIELDS = (
    "source", "completion", "solutions", "prompt", "token_ids", "behaviour_logprobs",
    "error", "tags", "reward", "repeat", "usage",
)


def member_to_dict(m: Member) -> dict[str, Any]:
    return {f: getattr(m, f) for f in MEMBER_FIELDS}


def member_from_dict(d: dict[str, Any]) -> Member:
    """A member as stored by ``member_to_dict`` (JSON turned tuples into lists)."""

    def as_tuple(key: str) -> tuple[Any, ...] | None:
        return tuple(d[key]) if d.get(key) is not None else None

    check_score(d.get("reward"), "a stored group member's reward", StorageError)
    return Member(
        source=d["source"], completion=d["completion"], solutions=as_tuple("solutions") or (),
        prompt=d.get("prompt"), token_ids=as_tuple("token_ids"),
        behaviour_logprobs=as_tuple("behaviour_logprobs"), error=d.get("error"),
        tags=dict(d.get("tags") or {}), reward=d.get("reward"), repeat=bool(d.get("repeat")),
        usage=d.get("usage"),
    )
