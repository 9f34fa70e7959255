"""The GRPO update's settings, checked before any model loads (docs/method.md, step 8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..configs import is_count, is_finite_number
from ..errors import ConfigError
from .math import ADVANTAGE_MODES, AGGREGATIONS, choice

REPEAT_REWARDS = ("stored", "zero")
OFF_POLICY_MODES = ("none", "truncated-is")
MAX_LEARNING_RATE = 0.1
"""AdamW steps this large wreck a LoRA adapter in one update; a larger value is a typo."""
LR_REFERENCE_HIDDEN = 576
"""Hidden size of SmolLM2-135M, the model the default learning rate was measured on."""
LR_REFERENCE = 1e-4
"""The learning rate measured best at ``LR_REFERENCE_HIDDEN`` (benchmarks/results/learning.md)."""
LR_EXPONENT = 0.781
"""The Tinker cookbook's exponent for Llama: lr is proportional to hidden ** -0.781."""


def learning_rate_for(hidden_size: int) -> float:
    """The default LoRA learning rate for a model of this hidden size: the rate measured best
    on SmolLM2-135M (hidden 576, 1e-4 with the default all-linear rank-16 adapter), scaled by
    the Tinker cookbook's rule lr ~ hidden ** -0.781 for other widths (about 2.7e-5 at
    Llama-3.2-3B's 3072). Only the 576 point is measured here; the exponent is Tinker's."""
    if hidden_size < 1:
        raise ConfigError(f"hidden_size must be >= 1, got {hidden_size}")
    return LR_REFERENCE * (LR_REFERENCE_HIDDEN / hidden_size) ** LR_EXPONENT


@dataclass(frozen=True)
class GRPOConfig:
    """The GRPO update. The defaults are the small-model settings measured in
    benchmarks/results/learning.md; :meth:`paper` gives the reference's (docs/method.md)."""

    learning_rate: float | None = None
    """AdamW learning rate of the adapter; None: :func:`learning_rate_for` the policy's
    hidden size (the measured rule)."""
    steps_per_group: int = 2
    """mu: optimizer steps on each group (the reference's ``num_iterations``)."""
    clip_low: float = 0.2
    """The ratio is clipped below at 1 - clip_low."""
    clip_high: float = 0.28
    """The ratio is clipped above at 1 + clip_high ("clip-higher": [0.8, 1.28])."""
    kl_coef: float = 0.0
    """Weight of the k3 KL estimate to the base model (adapter disabled) in the loss."""
    advantage: Literal["none", "std", "entropic", "max@k"] = "none"
    """"none": reward minus group mean (the reference); "std": also divided by the group std;
    "entropic": max-seeking leave-one-out weights (``migrate_opt.grpo.entropic``); "max@k": credit
    for the best of ``max_k`` samples (``grpo.math.max_at_k_advantages``)."""
    max_k: int = 2
    """Subset size of the "max@k" advantage (capped at the group's valid members - 1)."""
    entropic_beta: float | None = None
    """Fixed beta of the "entropic" advantage; None picks it per group (KL to uniform ln 2)."""
    loss_aggregation: Literal["sequence-mean", "token-mean"] = "sequence-mean"
    """"sequence-mean": mean over tokens of each completion, then over completions (the
    reference); "token-mean": mean over all tokens of the group (long answers weigh more)."""
    invalid: Literal["mask"] | float = "mask"
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
    lazy_penalty: float | None = None
    """Graded fixed rewards for lazy members, which cost no evaluation (ThetaEvolve's lazy
    penalty): a member with no valid answer trains with the group's lowest valid reward
    minus ``lazy_penalty`` x the group's reward span, a copy of its parent with 3/4 of that
    distance, any other repeat of an archived solution with 1/2. A fraction in (0, 1];
    None: off (``invalid`` and ``repeat_reward`` apply)."""
    lr_decay_steps: int | None = None
    """Inverse-square-root decay, lr / sqrt(1 + step / lr_decay_steps), so long runs stay
    near the base model (it never reaches 0); None: a constant rate."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip of each step."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    monitor_kl: bool = True
    """Score each group under the base model too (one pass without gradient, about a sixth
    of a step) so the metrics carry the KL to base even when ``kl_coef`` is 0. The metric
    is exact: KL(policy || base) of the next-token distributions over the whole vocabulary,
    averaged over the group's completion tokens (``grpo.math.next_token_kl``), valid also
    for members sampled from other prompts; ``kl_coef``'s loss term stays the k3 sample
    estimate."""
    max_kl: float | None = 1.0
    """Per-token KL to base above which the policy counts as collapsed (it samples what the
    base model would not): the step's metrics get ``kl_exceeded`` 1 and a warning is
    logged. None: no bound."""

    def __post_init__(self) -> None:
        for name in ("clip_low", "clip_high", "kl_coef", "is_truncation", "max_grad_norm",
                     "weight_decay", *(("max_kl",) if self.max_kl is not None else ())):
            value = getattr(self, name)
            _require(is_finite_number(value), f"{name} must be a finite number, got {value!r}")
        lr = self.learning_rate
        _require(lr is None or (is_finite_number(lr) and 0 < lr <= MAX_LEARNING_RATE),
                 f"learning_rate must be in (0, {MAX_LEARNING_RATE}] or None (the measured "
                 f"rule for the model), got {lr!r}")
        _require(
            is_count(self.steps_per_group) and self.steps_per_group >= 1,
            f"steps_per_group must be an integer >= 1, got {self.steps_per_group!r}",
        )
        _require(0 <= self.clip_low < 1, f"clip_low must be in [0, 1), got {self.clip_low}")
        _require(self.clip_high >= 0, f"clip_high must be >= 0, got {self.clip_high}")
        _require(self.kl_coef >= 0, f"kl_coef must be >= 0, got {self.kl_coef}")
        choice("advantage", self.advantage, ADVANTAGE_MODES)
        _require(
            self.entropic_beta is None
            or (is_finite_number(self.entropic_beta) and self.entropic_beta >= 0),
            f"entropic_beta must be a finite number >= 0 or None, got {self.entropic_beta!r}",
        )
        _require(
            self.entropic_beta is None or self.advantage == "entropic",
            'entropic_beta only applies with advantage="entropic": set both, or neither',
        )
        choice("loss_aggregation", self.loss_aggregation, AGGREGATIONS)
        choice("repeat_reward", self.repeat_reward, REPEAT_REWARDS)
        choice("off_policy", self.off_policy, OFF_POLICY_MODES)
        if isinstance(self.invalid, str):
            choice("invalid", self.invalid, ("mask",), " or a number (their reward)")
        else:
            _require(
                is_finite_number(self.invalid),
                f'invalid must be "mask" or a finite number, got {self.invalid!r}',
            )
        _require(isinstance(self.max_k, int) and not isinstance(self.max_k, bool)
                 and self.max_k >= 1, f"max_k must be an integer >= 1, got {self.max_k!r}")
        _require(self.max_k == 2 or self.advantage == "max@k",
                 'max_k only applies with advantage="max@k": set both, or neither')
        self._check_remedies()
        _require(self.is_truncation >= 1, f"is_truncation must be >= 1, got {self.is_truncation}")
        _require(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        _require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _require(self.max_kl is None or self.max_kl > 0,
                 f"max_kl must be > 0 or None (no bound), got {self.max_kl!r}")

    def _check_remedies(self) -> None:
        lazy = self.lazy_penalty
        _require(lazy is None or (isinstance(lazy, (int, float)) and not isinstance(lazy, bool)
                                  and 0 < lazy <= 1),
                 f"lazy_penalty must be a fraction of the group's reward span in (0, 1] or "
                 f"None; above 1 a lazy member would outweigh the valid members' spread, got "
                 f"{lazy!r}")
        _require(lazy is None or (self.invalid == "mask" and self.repeat_reward == "stored"),
                 "lazy_penalty sets the reward of invalid and repeated members itself: leave "
                 "invalid and repeat_reward at their defaults")
        steps = self.lr_decay_steps
        _require(steps is None or (isinstance(steps, int) and not isinstance(steps, bool)
                                   and steps >= 1),
                 f"lr_decay_steps must be an integer >= 1 or None, got {steps!r}")

    @classmethod
    def paper(cls) -> GRPOConfig:
        """The reference's update for Llama-3.2-3B (docs/method.md): lr 5e-5, mu 2,
        advantages not divided by the std, clip [0.8, 1.28], no KL."""
        return cls(learning_rate=5e-5, steps_per_group=2, advantage="none")



def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


# -- the updater -------------------------------------------------------------------------
