"""GRPO on one group of completions: the test-time update of MiGrATe (docs/method.md,
step 8).

The settings are :class:`GRPOConfig` (:mod:`.config`), the maths
(:func:`advantages`, :func:`truncated_is_weights`, :func:`grpo_loss`) lives in
:mod:`.math`; :class:`GRPOUpdater` is the loop around them. torch is imported inside
functions so that importing this module (for GRPOConfig) stays cheap.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ..policy.base import Policy, Updater
from ..task.prompt_spec import PromptSpec
from ..values import Member
from .config import GRPOConfig, learning_rate_for
from .math import (
    STD_EPS,
    advantages,
    bounded,
    grpo_loss,
    next_token_kl,
    truncated_is_weights,
)

if TYPE_CHECKING:
    import torch

__all__ = ["STD_EPS", "GRPOConfig", "GRPOUpdater", "TrainablePolicy", "advantages",
           "grpo_loss", "learning_rate_for", "truncated_is_weights"]

log = logging.getLogger(__name__)


@runtime_checkable
class TrainablePolicy(Protocol):
    """What the updater needs from a policy (HFPolicy implements it)."""

    def encode(
        self, prompt: str, system: str | None, members: Sequence[Member], response_prefix: str = ""
    ) -> Any: ...

    def token_logprobs(self, batch: Any,
                       distributions: list[torch.Tensor] | None = None) -> torch.Tensor:
        """[B, T] log-prob of each completion token. A policy that can also appends the
        [N, V] next-token log-distributions at the N completion tokens to
        ``distributions`` (for the exact KL); one that cannot leaves it empty, and the
        monitor falls back to the loss's sample estimate."""
        ...

    def reference(self) -> AbstractContextManager[None]: ...

    def trainable_parameters(self) -> list[torch.nn.Parameter]: ...


class GRPOUpdater(Updater):
    """mu AdamW steps of the clipped GRPO loss on each group, on the adapter only."""

    def __init__(self, config: GRPOConfig | None = None) -> None:
        self.config = config or GRPOConfig()
        self._optimizer: Any = None
        self._params: list[Any] = []
        self._pending_state: Mapping[str, Any] | None = None
        self._warned = False
        self.learning_rate = self.config.learning_rate
        """The rate in use: the config's, or the rule's once the policy is known."""

    # -- rewards -------------------------------------------------------------------------
    def rewards(self, members: Sequence[Member]) -> list[float | None]:
        """The reward each member trains with (None: masked), per ``invalid`` and
        ``repeat_reward``, or ``lazy_penalty`` when set."""
        if self.config.lazy_penalty is not None:
            return lazy_rewards(members, self.config.lazy_penalty)
        out: list[float | None] = []
        for m in members:
            reward = m.reward
            if reward is None and self.config.invalid != "mask":
                reward = float(self.config.invalid)
            elif (
                reward is not None
                and self.config.repeat_reward == "zero"
                and not m.is_replay
                and m.repeat
            ):
                reward = 0.0
            out.append(reward)
        return out

    # -- the step ------------------------------------------------------------------------
    def step(
        self, policy: Policy, prompt: str, spec: PromptSpec, members: Sequence[Member]
    ) -> list[dict[str, float]]:
        start = time.perf_counter()
        trainable = self._check(policy)
        rewards = self.rewards(members)
        adv = bounded(advantages(rewards, self.config.advantage, self.config.entropic_beta,
                                 self.config.max_k))
        keep = [i for i, a in enumerate(adv) if a is not None]
        summary = _reward_summary([rewards[i] for i in keep])
        if not any(adv[i] for i in keep):
            # Equal rewards, or fewer than two valid ones: the loss gradient would be zero.
            return [{**summary, **_SKIPPED, "seconds": time.perf_counter() - start}]
        batch = trainable.encode(prompt, spec.system, [members[i] for i in keep],
                                 spec.response_prefix)
        return self._train(trainable, batch, [adv[i] for i in keep], summary, start)

    def _train(
        self,
        policy: TrainablePolicy,
        batch: Any,
        adv: Sequence[float | None],
        summary: dict[str, float],
        start: float,
    ) -> list[dict[str, float]]:
        import torch

        optimizer = self._ensure_optimizer(policy)
        cfg = self.config
        advantages_t = torch.tensor(adv, dtype=torch.float32, device=batch.completion_mask.device)
        ref_logp = None
        # The monitor's KL is exact over the vocabulary where the policy gives its
        # next-token distributions (HFPolicy), else the loss's sample estimate.
        base: list[torch.Tensor] = []
        if cfg.kl_coef > 0 or cfg.monitor_kl:
            with torch.no_grad(), policy.reference():
                ref_logp = policy.token_logprobs(
                    batch, distributions=base if cfg.monitor_kl else None)
        old_logp = is_weights = None
        metrics = []
        for _ in range(cfg.steps_per_group):
            optimizer.zero_grad(set_to_none=True)
            now: list[torch.Tensor] = []
            logp = policy.token_logprobs(batch, distributions=now if base else None)
            if old_logp is None:
                # The parameters have not moved yet: the first pass *is* the old policy,
                # which saves the separate no-grad pass (as TRL does).
                old_logp = logp.detach()
                if cfg.off_policy == "truncated-is":
                    is_weights = truncated_is_weights(
                        old_logp, batch.behaviour_logprobs, batch.off_prompt, cfg.is_truncation
                    )
            loss, stats = grpo_loss(
                logp, old_logp, advantages_t, batch.completion_mask, cfg.clip_low,
                cfg.clip_high, cfg.loss_aggregation, ref_logp, cfg.kl_coef, is_weights,
            )  # fmt: skip
            if now:
                stats["kl"] = next_token_kl(now[0], base[0])
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self._params, cfg.max_grad_norm)
            self._schedule(optimizer)
            optimizer.step()
            metrics.append({**summary, **stats, "loss": float(loss.detach()),
                            "grad_norm": float(grad_norm), "skipped": 0.0,
                            "learning_rate": float(optimizer.param_groups[0]["lr"]),
                            "kl_exceeded": self._kl_exceeded(stats["kl"]),
                            "seconds": time.perf_counter() - start})  # fmt: skip
            start = time.perf_counter()
        return metrics

    def _schedule(self, optimizer: Any) -> None:
        """Set this step's rate from the AdamW step count (restored with its state, so a
        resumed run decays from where it was)."""
        if self.config.lr_decay_steps is None or self.learning_rate is None:
            return
        state = optimizer.state.get(self._params[0], {})
        done = float(state["step"]) if "step" in state else 0.0
        rate = self.learning_rate / math.sqrt(1.0 + done / self.config.lr_decay_steps)
        for group in optimizer.param_groups:
            group["lr"] = rate

    def _kl_exceeded(self, kl: float) -> float:
        """1.0 when the KL to base is past ``max_kl`` (warned once per run), else 0.0."""
        bound = self.config.max_kl
        if bound is None or not self.config.monitor_kl and self.config.kl_coef == 0:
            return 0.0
        if kl <= bound:
            return 0.0
        if not self._warned:
            self._warned = True
            log.warning(
                "the policy's KL to the base model is %.3g per token, past max_kl %.3g: it "
                "samples what the base model would not (collapse). Lower the learning rate "
                "or add kl_coef; the metrics flag every such step (kl_exceeded)", kl, bound)
        return 1.0

    def _check(self, policy: Policy) -> TrainablePolicy:
        if not isinstance(policy, TrainablePolicy):
            raise ConfigError(
                f"{type(policy).__name__} cannot be trained by GRPO: it lacks encode, "
                "token_logprobs, reference or trainable_parameters (use an HFPolicy, or an "
                "inference-only method)"
            )
        return policy

    def _ensure_optimizer(self, policy: TrainablePolicy) -> Any:
        import torch

        params = policy.trainable_parameters()
        if self._optimizer is None or not _same(params, self._params):
            if not params:
                raise ConfigError("the policy has no trainable parameters")
            self._params = params
            self.learning_rate = self._resolve_learning_rate(policy)
            self._optimizer = torch.optim.AdamW(
                params, lr=self.learning_rate, weight_decay=self.config.weight_decay
            )
            if self._pending_state is not None:
                self._optimizer.load_state_dict(self._pending_state)
                self._pending_state = None
        return self._optimizer

    def effective_learning_rate(self, policy: Any) -> float | None:
        """The rate the first step will use on ``policy`` (stored with the study); None
        when the policy does not say its hidden size."""
        try:
            return self._resolve_learning_rate(policy)
        except ConfigError:
            return None

    def _resolve_learning_rate(self, policy: TrainablePolicy) -> float:
        if self.config.learning_rate is not None:
            return float(self.config.learning_rate)
        hidden = getattr(policy, "hidden_size", None)
        if not isinstance(hidden, int):
            raise ConfigError(
                f"{type(policy).__name__} does not report its hidden_size, so the default "
                "learning rate cannot be chosen: give GRPOConfig(learning_rate=...)"
            )
        return learning_rate_for(hidden)

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> Mapping[str, Any]:
        """The AdamW state (moments and step counts) for resume; empty before the first step."""
        if self._optimizer is None:
            return dict(self._pending_state or {})
        return self._optimizer.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the AdamW state; applied at the next step if no step has run yet."""
        if not state:
            return
        if self._optimizer is None:
            self._pending_state = state
        else:
            self._optimizer.load_state_dict(state)


LAZY_GRADES = {"invalid": 1.0, "copies_parent": 0.75, "repeat": 0.5}
"""Distance below the lowest valid reward, as a fraction of ``lazy_penalty`` x span:
ThetaEvolve's -0.4 (no answer), -0.3 (the parent again), -0.2 (another lazy output)."""


def lazy_kind(member: Member) -> str | None:
    """Which lazy output a fresh member is (None: it proposed something new, or it is a
    replay, whose stored score stands)."""
    if member.is_replay:
        return None
    if member.reward is None:
        return "invalid"
    if not member.repeat:
        return None
    parent = member.tags.get("parent")
    return "copies_parent" if parent is not None and parent in member.solutions else "repeat"


def lazy_rewards(members: Sequence[Member], penalty: float) -> list[float | None]:
    """Rewards with lazy members placed below every valid reward of the group (graded by
    :data:`LAZY_GRADES`); the span falls back to the rewards' magnitude, then 1, when the
    valid rewards are fewer than two or all equal."""
    kinds = [lazy_kind(m) for m in members]
    valid = [m.reward for m, kind in zip(members, kinds, strict=True)
             if kind is None and m.reward is not None]
    floor = min(valid) if valid else 0.0
    span = (max(valid) - floor) if valid else 0.0
    if span <= 0:
        span = max((abs(r) for r in valid), default=0.0) or 1.0
    return [m.reward if kind is None
            else floor - penalty * LAZY_GRADES[kind] * span
            for m, kind in zip(members, kinds, strict=True)]


_SKIPPED = {
    "loss": 0.0,
    "kl": 0.0,
    "clip_fraction": 0.0,
    "ratio_mean": 1.0,
    "grad_norm": 0.0,
    "skipped": 1.0,
    "kl_exceeded": 0.0,
}


def _reward_summary(rewards: Sequence[float | None]) -> dict[str, float]:
    valid = [r for r in rewards if r is not None]
    mean = sum(valid) / len(valid) if valid else 0.0
    var = sum((r - mean) ** 2 for r in valid) / len(valid) if valid else 0.0
    return {"reward_mean": mean, "reward_std": math.sqrt(var), "n_valid": float(len(valid))}


def _same(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))

