"""Your own objective in a few lines: a task made of a prompt and two functions.

A class rather than a decorator: a task needs two functions (what the model's answer
means, what it scores) and a prompt, which a constructor names plainly, and the object is
a :class:`Task` wherever one is accepted (``create``, ``run``, executors, a plugin's
``register_tasks``). Tasks with prompts that change with history, a search space or a
report picture still subclass :class:`Task`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from .errors import TaskError
from .task import Task
from .values import Evaluation, check_direction

Objective = Callable[[str], "float | int | None | Evaluation"]
"""Scores one solution: a number, None (invalid) or an :class:`Evaluation`."""


def lines(completion: str) -> list[str]:
    """The default parser: every non-empty line of the answer is one solution."""
    return [line.strip() for line in completion.splitlines() if line.strip()]


def numbers(completion: str) -> list[str]:
    """A parser for numeric answers: every number written in the completion."""
    return re.findall(r"-?\d+(?:\.\d+)?", completion)


class FunctionTask(Task):
    """A task from a prompt, a parser and (for ``run``) an objective.

    ``parse(completion)`` returns the solutions the model wrote (default: one per line).
    ``objective(solution)`` scores one; it is optional in ask/tell, where you tell the
    scores yourself. ``direction="minimize"`` minimises it (every optimizer honours it;
    best lists and reports show the objective as you gave it). ``optimum`` marks a
    solution reaching it solved. For ``executor="process"`` the functions must be
    picklable (defined at module level, not lambdas)."""

    def __init__(
        self,
        prompt: str,
        parse: Callable[[str], Sequence[str]] = lines,
        objective: Objective | None = None,
        *,
        direction: str = "maximize",
        optimum: float | None = None,
        name: str = "function",
        system_prompt: str | None = None,
        max_new_tokens: int = 64,
    ) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise TaskError("prompt must be a non-empty string (what the model is asked)")
        if not callable(parse):
            raise TaskError(f"parse must be a function of the completion, got {parse!r}")
        if objective is not None and not callable(objective):
            raise TaskError(f"objective must be a function of a solution, got {objective!r}")
        try:
            self.direction = check_direction(direction)
        except ValueError as exc:
            raise TaskError(str(exc)) from None
        self._prompt = prompt
        self._parse = parse
        self.objective = objective
        self.optimum = optimum
        self.name = name
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens

    def prompt(self) -> str:
        return self._prompt

    def parse(self, completion: str) -> list[str]:
        return [str(s) for s in self._parse(completion)]

    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        if self.objective is None:
            raise TaskError(
                "this FunctionTask has no objective: tell the scores yourself "
                "(opt.tell(group, scores)), or give FunctionTask(..., objective=f) to run it"
            )
        return [_evaluation(self.objective(s)) for s in solutions]

    def settings(self) -> dict[str, Any]:
        return {"task": self.name, "prompt": self._prompt, "direction": self.direction,
                "optimum": self.optimum}


def _evaluation(value: Any) -> Evaluation:
    if isinstance(value, Evaluation):
        return value
    if value is None:
        return Evaluation.invalid("objective returned None")
    if isinstance(value, bool) or not hasattr(value, "__float__"):
        raise TaskError(f"objective must return a number, None or an Evaluation, got {value!r}")
    return Evaluation(float(value))  # numpy numbers included
