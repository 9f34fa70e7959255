"""GRPO on one group of completions: the test-time update of MiGrATe (docs/method.md, step 8).

The pure functions (:func:`advantages`, :func:`truncated_is_weights`, :func:`grpo_loss`)
hold the maths and are tested by hand; :class:`GRPOUpdater` is the loop around them.
torch is imported inside functions so that importing this module (for GRPOConfig) stays cheap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from .errors import ConfigError
from .policy.base import Policy, Updater
from .values import Member

if TYPE_CHECKING:
    import torch

ADVANTAGE_MODES = ("none", "std", "entropic")
AGGREGATIONS = ("sequence-mean", "token-mean")
REPEAT_REWARDS = ("stored", "zero")
OFF_POLICY_MODES = ("none", "truncated-is")
STD_EPS = 1e-4
"""Added to the group std (as TRL does) so a near-constant group cannot blow up."""


@dataclass(frozen=True)
class GRPOConfig:
    """The GRPO update (docs/method.md: the reference's loss and hyper-parameters by default)."""

    learning_rate: float = 5e-5
    """AdamW learning rate of the adapter."""
    steps_per_group: int = 2
    """mu: optimizer steps on each group (the reference's ``num_iterations``)."""
    clip_low: float = 0.2
    """The ratio is clipped below at 1 - clip_low."""
    clip_high: float = 0.28
    """The ratio is clipped above at 1 + clip_high ("clip-higher": [0.8, 1.28])."""
    kl_coef: float = 0.0
    """Weight of the k3 KL estimate to the base model (adapter disabled); 0 skips that pass."""
    advantage: Literal["none", "std", "entropic"] = "none"
    """"none": reward minus group mean (the reference); "std": also divided by the group std;
    "entropic": max-seeking leave-one-out weights (``migrate_opt.entropic``)."""
    entropic_beta: float | None = None
    """Fixed beta of the "entropic" advantage; None picks it per group (KL to uniform ln 2)."""
    loss_aggregation: Literal["sequence-mean", "token-mean"] = "sequence-mean"
    """"sequence-mean": mean over tokens of each completion, then over completions (the
    reference); "token-mean": mean over all tokens of the group (long answers weigh more)."""
    invalid: str | float = "mask"
    """Members whose reward is None (no valid solution): "mask" leaves them out of the group
    statistics and of the loss (the reference); a number uses it as their reward."""
    repeat_reward: Literal["stored", "zero"] = "stored"
    """A fresh member whose solutions were all evaluated before: "stored" keeps their score
    (the reference), "zero" gives 0, since the task prompt says repeats score nothing."""
    off_policy: Literal["none", "truncated-is"] = "none"
    """Members sampled from another prompt (neighbourhood, OPRO): "none" trains them as if
    sampled from the task prompt (the reference); "truncated-is" weights their tokens by
    min(pi(token | task prompt) / pi_behaviour(token), is_truncation)."""
    is_truncation: float = 2.0
    """Upper bound of the importance weights of "truncated-is"."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip of each step."""
    weight_decay: float = 0.0
    """AdamW weight decay."""

    def __post_init__(self) -> None:
        _require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        _require(
            isinstance(self.steps_per_group, int) and self.steps_per_group >= 1,
            f"steps_per_group must be an integer >= 1, got {self.steps_per_group!r}",
        )
        _require(0 <= self.clip_low < 1, f"clip_low must be in [0, 1), got {self.clip_low}")
        _require(self.clip_high >= 0, f"clip_high must be >= 0, got {self.clip_high}")
        _require(self.kl_coef >= 0, f"kl_coef must be >= 0, got {self.kl_coef}")
        _choice("advantage", self.advantage, ADVANTAGE_MODES)
        _require(
            self.entropic_beta is None
            or (math.isfinite(self.entropic_beta) and self.entropic_beta >= 0),
            f"entropic_beta must be a finite number >= 0 or None, got {self.entropic_beta!r}",
        )
        _require(
            self.entropic_beta is None or self.advantage == "entropic",
            'entropic_beta only applies with advantage="entropic": set both, or neither',
        )
        _choice("loss_aggregation", self.loss_aggregation, AGGREGATIONS)
        _choice("repeat_reward", self.repeat_reward, REPEAT_REWARDS)
        _choice("off_policy", self.off_policy, OFF_POLICY_MODES)
        if isinstance(self.invalid, str):
            _choice("invalid", self.invalid, ("mask",), " or a number (their reward)")
        else:
            _require(
                not isinstance(self.invalid, bool) and math.isfinite(self.invalid),
                f'invalid must be "mask" or a finite number, got {self.invalid!r}',
            )
        _require(self.is_truncation >= 1, f"is_truncation must be >= 1, got {self.is_truncation}")
        _require(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        _require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _choice(name: str, value: object, allowed: Sequence[str], extra: str = "") -> None:
    if value not in allowed:
        options = " or ".join(repr(a) for a in allowed)
        raise ConfigError(f"{name} must be {options}{extra}, got {value!r}")


# -- the maths ---------------------------------------------------------------------------
def advantages(
    rewards: Sequence[float | None], mode: str = "none", beta: float | None = None
) -> list[float | None]:
    """Group-relative advantages; None rewards (masked members) stay None and are left out
    of the mean and std. Fewer than two valid rewards give zeros: nothing to compare.
    ``beta`` is the fixed beta of the "entropic" mode (None: adaptive)."""
    _choice("advantage mode", mode, ADVANTAGE_MODES)
    if mode == "entropic":
        from .entropic import entropic_advantages

        return entropic_advantages(rewards, beta)
    valid = [r for r in rewards if r is not None]
    if len(valid) < 2:
        return [None if r is None else 0.0 for r in rewards]
    mean = sum(valid) / len(valid)
    scale = 1.0
    if mode == "std":
        # Sample std (ddof=1), as TRL's torch.std.
        std = math.sqrt(sum((r - mean) ** 2 for r in valid) / (len(valid) - 1))
        scale = std + STD_EPS
    return [None if r is None else (r - mean) / scale for r in rewards]


def truncated_is_weights(
    logp: torch.Tensor, behaviour: torch.Tensor, rows: torch.Tensor, truncation: float
) -> torch.Tensor:
    """Per-token min(exp(logp - behaviour), truncation) on the selected ``rows`` (bool [B]),
    1 elsewhere; detached: the weights correct the sampling, they are not trained."""
    import torch

    weights = torch.exp(logp.detach() - behaviour).clamp(max=truncation)
    return torch.where(rows[:, None], weights, torch.ones_like(weights))


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float,
    clip_high: float,
    aggregation: str = "sequence-mean",
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped GRPO objective, negated to be minimised.

    ``logp``, ``old_logp``, ``ref_logp``, ``mask``, ``is_weights``: [B, T] per token;
    ``advantages``: [B]. Rows with an all-zero mask (masked members) are left out entirely.
    The KL term is the k3 estimator exp(ref - logp) - (ref - logp) - 1."""
    import torch

    _choice("loss aggregation", aggregation, AGGREGATIONS)
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype)[:, None]
    ratio = torch.exp(logp - old_logp)
    clipped = ratio.clamp(1 - clip_low, 1 + clip_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    if is_weights is not None:
        per_token = per_token * is_weights
    kl = torch.zeros_like(logp)
    if ref_logp is not None:
        delta = ref_logp - logp
        kl = torch.exp(delta) - delta - 1
        per_token = per_token + kl_coef * kl
    loss = _aggregate(per_token, mask, aggregation)
    is_clipped = ((ratio > 1 + clip_high) & (adv > 0)) | ((ratio < 1 - clip_low) & (adv < 0))
    tokens = mask.sum().clamp(min=1)
    stats = {
        "clip_fraction": float((is_clipped * mask).sum() / tokens),
        "kl": float((kl.detach() * mask).sum() / tokens),
        "ratio_mean": float((ratio.detach() * mask).sum() / tokens),
    }
    return loss, stats


def _aggregate(per_token: torch.Tensor, mask: torch.Tensor, aggregation: str) -> torch.Tensor:
    if aggregation == "token-mean":
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    lengths = mask.sum(dim=1)
    rows = lengths > 0
    per_sequence = (per_token * mask).sum(dim=1)[rows] / lengths[rows]
    return per_sequence.mean() if per_sequence.numel() else per_token.sum() * 0


# -- the updater -------------------------------------------------------------------------
@runtime_checkable
class TrainablePolicy(Protocol):
    """What the updater needs from a policy (HFPolicy implements it)."""

    def encode(
        self, prompt: str, system: str | None, members: Sequence[Member], response_prefix: str = ""
    ) -> Any: ...

    def token_logprobs(self, batch: Any) -> torch.Tensor: ...

    def reference(self) -> AbstractContextManager[None]: ...

    def trainable_parameters(self) -> list[torch.nn.Parameter]: ...


class GRPOUpdater(Updater):
    """mu AdamW steps of the clipped GRPO loss on each group, on the adapter only."""

    def __init__(self, config: GRPOConfig | None = None) -> None:
        self.config = config or GRPOConfig()
        self._optimizer: Any = None
        self._params: list[Any] = []
        self._pending_state: Mapping[str, Any] | None = None

    # -- rewards -------------------------------------------------------------------------
    def rewards(self, members: Sequence[Member]) -> list[float | None]:
        """The reward each member trains with (None: masked), per ``invalid`` and
        ``repeat_reward``."""
        out: list[float | None] = []
        for m in members:
            reward = m.reward
            if reward is None and self.config.invalid != "mask":
                reward = float(self.config.invalid)
            elif (
                reward is not None
                and self.config.repeat_reward == "zero"
                and not m.is_replay
                and getattr(m, "repeat", False)
            ):
                reward = 0.0
            out.append(reward)
        return out

    # -- the step ------------------------------------------------------------------------
    def step(
        self,
        policy: Policy,
        prompt: str,
        system: str | None,
        members: Sequence[Member],
        response_prefix: str = "",
    ) -> list[dict[str, float]]:
        start = time.perf_counter()
        trainable = self._check(policy)
        rewards = self.rewards(members)
        adv = advantages(rewards, self.config.advantage, self.config.entropic_beta)
        keep = [i for i, a in enumerate(adv) if a is not None]
        summary = _reward_summary([rewards[i] for i in keep])
        if not any(adv[i] for i in keep):
            # Equal rewards, or fewer than two valid ones: the loss gradient would be zero.
            return [{**summary, **_SKIPPED, "seconds": time.perf_counter() - start}]
        batch = trainable.encode(prompt, system, [members[i] for i in keep], response_prefix)
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
        if cfg.kl_coef > 0:
            with torch.no_grad(), policy.reference():
                ref_logp = policy.token_logprobs(batch)
        old_logp = is_weights = None
        metrics = []
        for _ in range(cfg.steps_per_group):
            optimizer.zero_grad(set_to_none=True)
            logp = policy.token_logprobs(batch)
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
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self._params, cfg.max_grad_norm)
            optimizer.step()
            metrics.append({**summary, **stats, "loss": float(loss.detach()),
                            "grad_norm": float(grad_norm), "skipped": 0.0,
                            "seconds": time.perf_counter() - start})  # fmt: skip
            start = time.perf_counter()
        return metrics

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
            self._optimizer = torch.optim.AdamW(
                params, lr=self.config.learning_rate, weight_decay=self.config.weight_decay
            )
            if self._pending_state is not None:
                self._optimizer.load_state_dict(self._pending_state)
                self._pending_state = None
        return self._optimizer

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
        groups = state.get("param_groups") if isinstance(state, Mapping) else None
        if not isinstance(state.get("state"), Mapping) or not isinstance(groups, list) or not all(
            isinstance(g, Mapping) and isinstance(g.get("params"), list) for g in groups
        ):
            raise ConfigError("the updater state is not an AdamW state (state, param_groups)")
        if self._optimizer is None:
            self._pending_state = state
        else:
            self._optimizer.load_state_dict(state)


_SKIPPED = {
    "loss": 0.0,
    "kl": 0.0,
    "clip_fraction": 0.0,
    "ratio_mean": 1.0,
    "grad_norm": 0.0,
    "skipped": 1.0,
}


def _reward_summary(rewards: Sequence[float | None]) -> dict[str, float]:
    valid = [r for r in rewards if r is not None]
    mean = sum(valid) / len(valid) if valid else 0.0
    var = sum((r - mean) ** 2 for r in valid) / len(valid) if valid else 0.0
    return {"reward_mean": mean, "reward_std": math.sqrt(var), "n_valid": float(len(valid))}


def _same(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
