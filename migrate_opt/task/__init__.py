"""The Task protocol: what an objective must provide to be optimized.

A task builds prompts, parses completions, canonicalises solutions and evaluates batches of
solutions. Non-LLM optimizers use its optional :class:`SearchSpace`."""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..values import Evaluation, Record, user_value
from .grammar import Grammar
from .prompt_spec import PromptSpec


class SearchSpace(ABC):
    """Operators for non-LLM optimizers (random search, genetic algorithms, BO adapters).

    Implement what you can; an optimizer that needs a missing operator refuses the task
    with a clear error."""

    def sample(self, rng: random.Random, n: int) -> list[str]:
        """``n`` random solutions (canonical form)."""
        raise NotImplementedError

    def mutate(self, solution: str, rng: random.Random) -> str | None:
        """A variation of ``solution``, or None when none could be made."""
        raise NotImplementedError

    def crossover(self, a: str, b: str, rng: random.Random) -> str | None:
        raise NotImplementedError

    def pool(self) -> Sequence[str] | None:
        """A finite list of candidate solutions (categorical search), if the space has one."""
        return None

    def encode(self, solution: str) -> Sequence[float] | None:
        """A fixed-length real vector for the solution (continuous BO adapters)."""
        return None

    def decode(self, vector: Sequence[float]) -> str | None:
        """The valid solution nearest to ``vector``."""
        return None

    def supports(self, operator: str) -> bool:
        """Whether ``operator`` (sample, mutate, crossover, pool, encode) is available."""
        if operator == "pool":
            return self.pool() is not None
        if operator in ("encode", "decode"):
            return self.dimension > 0
        return getattr(type(self), operator, None) is not getattr(SearchSpace, operator, None)

    @property
    def dimension(self) -> int:
        """Length of ``encode`` vectors; 0 when there is no encoding."""
        return 0


class Task(ABC):
    """An objective to maximise (or minimise: ``direction``). Subclass and implement the
    abstract methods, or wrap your functions in :class:`migrate_opt.FunctionTask`.

    Tasks must be picklable when evaluations run in another process: keep heavy state
    (models, embeddings) lazily loaded and out of ``__getstate__`` if needed."""

    name: str = "task"
    system_prompt: str | None = None
    optimum: float | None = None
    """Known best score; a solution reaching it marks the run solved."""
    direction: str = "maximize"
    """``"maximize"`` or ``"minimize"`` the scores ``evaluate`` returns. It belongs to the
    objective, so it lives here; optimizers store it with the study's settings and refuse
    to continue a study with the other direction (see :class:`migrate_opt.Optimizer`)."""
    default_group_size: int = 8
    """Completions per iteration used by the method presets."""
    default_group: Mapping[str, int | Mapping[str, Any]] = {}
    """This task's preferred mix, in sampler terms: sampler name -> options (``{"top_k":
    3}``, used whenever that sampler is in a group, under the user's own options) and/or a
    count ``n`` that MiGrATe presets (migrate, migrate-opro, migrate-evo) give that sampler,
    their exploring sampler taking the rest. ``{"on_policy": 0, "greedy": 0}`` makes every
    member explore."""
    max_new_tokens: int = 64
    """A sensible completion length for this task's answers."""
    response_prefix: str = ""
    """Opens every answer before the model writes (e.g. ``["`` for a JSON list), so a small
    model starts in the answer format instead of prose; ``parse`` sees it."""
    stop: tuple[str, ...] = ()
    """Generation ends after the first of these (e.g. ``"]`` closing the JSON list)."""
    answer_grammar: Grammar | None = None
    """What an answer may be: generation then samples only tokens the grammar allows. It
    describes the whole answer, ``response_prefix`` included (see
    :mod:`migrate_opt.task.grammar`); None samples freely."""
    environment_options: ClassVar[frozenset[str]] = frozenset()
    """Constructor options that describe the machine, not the problem: time and memory
    limits, worker counts, isolation, code to import, paths to write. A study never stores
    them and never reads them back (see :func:`split_task_options`): whoever runs or
    resumes gives them, or gets the installed defaults."""

    # -- prompts -------------------------------------------------------------------------
    @abstractmethod
    def prompt(self) -> str:
        """The canonical task prompt (on-policy samples; every member trains under it)."""

    def neighborhood_prompt(self, parent: Record) -> str:
        """Ask for variations of one good past solution."""
        return (
            f"{self.prompt()}\n\nA good answer so far is {self.render([parent.solution])} "
            f"(score {self._shown(parent)}). Propose a variation of it that scores "
            f"{self._better}."
        )

    def opro_prompt(self, history: Sequence[Record]) -> str:
        """Show past solutions worst-to-best with their scores (OPRO)."""
        lines = [f"{self.render([r.solution])} -> score {self._shown(r)}" for r in history]
        return (
            f"{self.prompt()}\n\nPrevious answers, from worst to best:\n"
            + "\n".join(lines)
            + f"\nPropose a new answer that scores {self._better} than all of them."
        )

    def _shown(self, record: Record) -> str:
        """A stored score as the objective reads (records hold minimized ones negated)."""
        value = user_value(record.score, self.direction)
        return "invalid" if value is None else f"{value:.3f}"

    @property
    def _better(self) -> str:
        return "lower" if self.direction == "minimize" else "higher"

    def prompt_spec(self) -> PromptSpec:
        """How every prompt of this task is framed and bounded: its system prompt, response
        prefix, stop strings, answer grammar and completion length (the optimizer builds it
        once and passes it to every ``generate`` and GRPO step)."""
        return PromptSpec(system=self.system_prompt, response_prefix=self.response_prefix,
                          stop=tuple(self.stop), grammar=self.answer_grammar,
                          max_new_tokens=self.max_new_tokens)

    # -- parsing -------------------------------------------------------------------------
    @abstractmethod
    def parse(self, completion: str) -> list[str]:
        """Raw solutions found in a completion (possibly none). Must never raise."""

    def canonicalize(self, solution: str) -> str | None:
        """The dedup key of a solution, or None when it is not a valid solution."""
        s = solution.strip()
        return s or None

    def render(self, solutions: Sequence[str]) -> str:
        """Write solutions as a completion would (used to replay records with no completion)."""
        return json.dumps(list(solutions))

    # -- evaluation ----------------------------------------------------------------------
    @abstractmethod
    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        """Score a batch of canonical solutions; one Evaluation each, in order."""

    def is_solved(self, evaluation: Evaluation) -> bool:
        if evaluation.solved:
            return True
        if self.optimum is None or evaluation.score is None:
            return False
        if self.direction == "minimize":
            return evaluation.score <= self.optimum + 1e-9
        return evaluation.score >= self.optimum - 1e-9

    # -- extras --------------------------------------------------------------------------
    def search_space(self) -> SearchSpace | None:
        """Operators for non-LLM optimizers; None when the task has none."""
        return None

    def settings(self) -> dict[str, Any]:
        """JSON-able description stored with a study (shown by ``migrate-opt show``): the
        task's constructor options, so the study's record can build the task again."""
        return {"task": self.name}

    def html(self, solution: str) -> str | None:
        """A self-contained HTML/SVG snippet picturing a solution (a molecule drawing, a
        coloured grid) for pages of your own; None when there is none. ``migrate-opt report``
        does not call it: a report shows only what the study stored, and runs no task code."""
        return None

    def record_html(self, record: Record) -> str | None:
        """A picture of a stored record drawn from ``record.solution`` and ``record.info``
        only, for pages that view a study file (which must run nothing from it); escape any
        text taken from them. Default: :meth:`html` of the solution."""
        return self.html(record.solution)

    def warm_start_solutions(self) -> list[str]:
        """Solutions to evaluate before the search starts (counted in the budget); ``run``
        evaluates them on an empty database."""
        return []


def split_task_options(factory: Any, options: Mapping[str, Any]
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``options`` of the task ``factory`` (a class or function registered as a task) as
    ``(data, environment)``: the options a study may store and give back, and those that
    come from the command line only (the factory's ``environment_options``, empty when it
    declares none)."""
    environment = frozenset(getattr(factory, "environment_options", frozenset()))
    data = {k: v for k, v in options.items() if k not in environment}
    return data, {k: v for k, v in options.items() if k in environment}
