"""The Policy and Updater protocols. Implementations load torch lazily."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..configs import is_count, is_finite_number
from ..errors import ConfigError
from ..task.grammar import Grammar
from ..values import Member
from .lora import LoRAConfig as LoRAConfig  # re-exported: the torch-free home is .lora


@dataclass(frozen=True)
class SamplingConfig:
    """How completions are sampled (docs/method.md: temperature 1.0, top_p 1.0)."""

    temperature: float = 1.0
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    max_new_tokens: int | None = None
    """Completion length cap; None takes the task's ``max_new_tokens``."""

    def __post_init__(self) -> None:
        if not is_finite_number(self.temperature) or self.temperature < 0:
            raise ConfigError(f"temperature must be a finite number >= 0, got "
                              f"{self.temperature!r}")
        if not is_finite_number(self.top_p) or not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.max_new_tokens is not None and (not is_count(self.max_new_tokens)
                                                or self.max_new_tokens < 1):
            raise ConfigError(f"max_new_tokens must be an integer >= 1, got "
                              f"{self.max_new_tokens!r}")


@dataclass(frozen=True)
class Generation:
    """One sampled completion with the behaviour log-prob of each of its tokens."""

    text: str
    """The completion as the task parses it: the response prefix, then the sampled text."""
    token_ids: tuple[int, ...] = ()
    logprobs: tuple[float, ...] = ()
    truncated: bool = False
    """Cut at the token limit before it ended: the optimizer counts it as unparsed."""
    usage: Mapping[str, Any] | None = None
    """Tokens (and cost) of the request that sampled it (see :mod:`migrate_opt.usage`)."""


def check_request(prompts: Sequence[str], max_new_tokens: int) -> None:
    """What every ``Policy.generate`` refuses: a bare string for the prompts (it would be
    sampled once per character) and a token limit that is not a count >= 1."""
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise ConfigError("prompts must be a list of strings (a bare string is not a list)")
    if not is_count(max_new_tokens) or max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")


class Policy(ABC):
    """Something that turns prompts into completions; trainable ones carry a LoRA adapter."""

    trainable: bool = False

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        *,
        system: str | None = None,
        sampling: SamplingConfig = SamplingConfig(),
        max_new_tokens: int = 64,
        seed: int = 0,
        response_prefix: str = "",
        stop: Sequence[str] = (),
        grammar: Grammar | None = None,
    ) -> list[Generation]:
        """One completion per prompt, reproducible for a given ``seed``.

        ``response_prefix`` opens the answer before sampling starts (e.g. ``["`` for a JSON
        list): the returned text starts with it, the returned tokens do not. Generation ends
        after the first of the ``stop`` strings. Under a ``grammar`` (the whole answer's,
        prefix included) only tokens it allows are sampled; a policy that cannot constrain
        its sampling may ignore it (the task's parser still judges every answer)."""

    def state_dict(self) -> Mapping[str, Any]:
        """Trainable state (the adapter) for checkpoints; empty for fixed policies."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    def describe(self) -> dict[str, Any]:
        """JSON-able settings stored with a study."""
        return {"policy": type(self).__name__}


class Updater(ABC):
    """Trains a policy on one group (GRPO is the built-in)."""

    @abstractmethod
    def step(
        self,
        policy: Policy,
        prompt: str,
        system: str | None,
        members: Sequence[Member],
        response_prefix: str = "",
    ) -> list[dict[str, float]]:
        """Update ``policy`` on ``members`` (all trained as completions of ``prompt``, after
        ``response_prefix``); return one metrics dict per optimizer step."""

    def state_dict(self) -> Mapping[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass
