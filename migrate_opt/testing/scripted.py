"""A policy that returns scripted completions: for testing optimizers without a model."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from ..policy.base import Generation, Policy, SamplingConfig, check_request
from ..task.prompt_spec import PromptSpec


class ScriptedPolicy(Policy):
    """Returns completions from a list (cycled) or from ``fn(prompt, rng)``; never trains.
    Every prompt it saw is kept in ``prompts``, and the spec of every call in ``specs``,
    for assertions."""

    def __init__(
        self,
        completions: Sequence[str] | None = None,
        fn: Callable[[str, random.Random], str] | None = None,
    ) -> None:
        if (completions is None) == (fn is None):
            raise ValueError("give completions or fn")
        self.completions = list(completions or [])
        self.fn = fn
        self.prompts: list[str] = []
        self.specs: list[PromptSpec] = []
        self._next = 0

    def generate(
        self,
        prompts: Sequence[str],
        spec: PromptSpec | None = None,
        *,
        sampling: SamplingConfig = SamplingConfig(),
        seed: int = 0,
    ) -> list[Generation]:
        # Scripted completions are whole answers: the prefix, stop strings and grammar do
        # not apply (tests script malformed answers on purpose).
        self.specs.append(check_request(prompts, spec, sampling))
        rng = random.Random(seed)
        out = []
        for p in prompts:
            self.prompts.append(p)
            if self.fn is not None:
                out.append(Generation(self.fn(p, rng)))
            else:
                out.append(Generation(self.completions[self._next % len(self.completions)]))
                self._next += 1
        return out

    def describe(self) -> dict[str, Any]:
        return {"policy": "scripted"}
