"""Cheap tasks with a known optimum. ``ToyTask``: guess a hidden string of digits (the
score is the fraction of positions right, so it has a smooth landscape and a known optimum
of 1.0). ``DigitShareTask``: any text is a solution, scored by its share of digits, so
even the tiny random model's gibberish is valid and it can visibly learn in a few steps."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Sequence
from typing import Any

from ..errors import TaskError
from ..task import SearchSpace, Task
from ..values import Evaluation


class ToyTask(Task):
    name = "toy"
    optimum = 1.0
    default_group_size = 8
    max_new_tokens = 16

    def __init__(
        self, target: str = "4213", target_seed: int | None = None, length: int = 4
    ) -> None:
        """``target_seed`` draws a random target of ``length`` digits instead of ``target``."""
        if target_seed is not None:
            rng = random.Random(target_seed)
            target = "".join(rng.choice("0123456789") for _ in range(length))
        if not target.isdigit():
            raise TaskError(f"toy target must be digits, got {target!r}")
        self.target = target

    def prompt(self) -> str:
        return (
            f"Guess a secret string of {len(self.target)} digits. "
            'Answer with a JSON list holding one string, e.g. ["0000"].'
        )

    def parse(self, completion: str) -> list[str]:
        # Numbers of the right length; failing those, the first digits of the completion,
        # so that even a random model's output is often a valid guess.
        n = len(self.target)
        exact = [m for m in re.findall(r"\d+", completion) if len(m) == n]
        digits = "".join(re.findall(r"\d", completion))
        return exact[:4] or ([digits[:n]] if len(digits) >= n else [])

    def canonicalize(self, solution: str) -> str | None:
        s = solution.strip()
        return s if s.isdigit() and len(s) == len(self.target) else None

    def render(self, solutions: Sequence[str]) -> str:
        return json.dumps(list(solutions))

    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        out = []
        for s in solutions:
            right = sum(a == b for a, b in zip(s, self.target))
            out.append(Evaluation(right / len(self.target), {"right": right},
                                  solved=s == self.target))
        return out

    def settings(self) -> dict[str, Any]:
        return {"task": self.name, "target": self.target}

    def search_space(self) -> SearchSpace:
        return DigitSpace(len(self.target))


class DigitSpace(SearchSpace):
    def __init__(self, length: int) -> None:
        self.length = length

    def sample(self, rng: random.Random, n: int) -> list[str]:
        return ["".join(rng.choice("0123456789") for _ in range(self.length)) for _ in range(n)]

    def _valid(self, solution: str) -> bool:
        return solution.isdigit() and len(solution) == self.length

    def mutate(self, solution: str, rng: random.Random) -> str | None:
        if not self._valid(solution):
            return None
        i = rng.randrange(self.length)
        return solution[:i] + rng.choice("0123456789") + solution[i + 1 :]

    def crossover(self, a: str, b: str, rng: random.Random) -> str | None:
        if not (self._valid(a) and self._valid(b)):
            return None
        cut = rng.randrange(1, self.length) if self.length > 1 else 0
        return a[:cut] + b[cut:]

    @property
    def dimension(self) -> int:
        return self.length

    def encode(self, solution: str) -> list[float]:
        return [int(c) / 9 for c in solution]

    def decode(self, vector: Sequence[float]) -> str | None:
        if len(vector) != self.length or not all(math.isfinite(v) for v in vector):
            return None
        return "".join(str(min(9, max(0, round(v * 9)))) for v in vector)


class DigitShareTask(Task):
    """Reward = share of digits in the completion (whitespace removed, 40 characters at
    most); every non-blank completion is one valid solution. No search space."""

    name = "digit-share"
    optimum = 1.0
    max_new_tokens = 12
    default_group_size = 8

    def prompt(self) -> str:
        return "Write digits."

    def parse(self, completion: str) -> list[str]:
        return [completion]

    def canonicalize(self, solution: str) -> str | None:
        s = "".join(solution.split())[:40]
        return s or None

    def render(self, solutions: Sequence[str]) -> str:
        return solutions[0] if solutions else ""

    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        return [Evaluation(sum(c.isdigit() for c in s) / len(s)) for s in solutions]
