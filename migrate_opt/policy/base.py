"""The Policy and Updater protocols. Implementations load torch lazily."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..configs import is_count, is_finite_number
from ..errors import ConfigError
from ..task.prompt_spec import PromptSpec
from ..values import Member
from . import legacy
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


DEFAULT_SPEC = PromptSpec()


def check_request(prompts: Sequence[str], spec: PromptSpec | None,
                  sampling: SamplingConfig) -> PromptSpec:
    """What every ``Policy.generate`` does first: refuse a bare string for the prompts (it
    would be sampled once per character), and return the spec to generate under (the
    default for None; ``sampling.max_new_tokens``, when set, in place of the spec's)."""
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise ConfigError("prompts must be a list of strings (a bare string is not a list)")
    if spec is None:
        spec = DEFAULT_SPEC
    elif not isinstance(spec, PromptSpec):
        raise ConfigError(f"spec must be a migrate_opt.PromptSpec, got {spec!r}")
    if sampling.max_new_tokens is not None and sampling.max_new_tokens != spec.max_new_tokens:
        spec = replace(spec, max_new_tokens=sampling.max_new_tokens)
    return spec


class Policy(ABC):
    """Something that turns prompts into completions; trainable ones carry a LoRA adapter."""

    trainable: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        legacy.shim_generate(cls)  # the old keywords keep working for one release

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        spec: PromptSpec | None = None,
        *,
        sampling: SamplingConfig = SamplingConfig(),
        seed: int = 0,
    ) -> list[Generation]:
        """One completion per prompt, reproducible for a given ``seed``.

        ``spec`` frames the prompts and bounds the answers (None: ``PromptSpec()``; a task
        builds its own with ``task.prompt_spec()``). Its ``response_prefix`` opens the
        answer before sampling starts (e.g. ``["`` for a JSON list): the returned text
        starts with it, the returned tokens do not. Generation ends after the first of its
        ``stop`` strings. Under its ``grammar`` (the whole answer's, prefix included) only
        tokens it allows are sampled; a policy that cannot constrain its sampling may ignore
        it (the task's parser still judges every answer). Implementations start with
        ``spec = check_request(prompts, spec, sampling)``.

        The keywords this replaced (``system=``, ``max_new_tokens=``, ``response_prefix=``,
        ``stop=``, ``grammar=``) still work, with one DeprecationWarning (:mod:`.legacy`)."""

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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        legacy.shim_step(cls)  # the old (prompt, system, members, prefix) keeps working

    @abstractmethod
    def step(
        self, policy: Policy, prompt: str, spec: PromptSpec, members: Sequence[Member]
    ) -> list[dict[str, float]]:
        """Update ``policy`` on ``members`` (all trained as completions of ``prompt``, framed
        by ``spec``: its system prompt, after its response prefix); return one metrics dict
        per optimizer step. The old form ``step(policy, prompt, system, members,
        response_prefix)`` still works, with one DeprecationWarning."""

    def state_dict(self) -> Mapping[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass
