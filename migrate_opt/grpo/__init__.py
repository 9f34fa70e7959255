"""GRPO, MiGrATe's test-time update: its config (``config``), the maths (``math``,
``entropic``), the updater (``updater``) and the monitor that says whether the policy is
learning (``monitor``). torch is imported only when an update runs."""

from .config import GRPOConfig, learning_rate_for
from .math import STD_EPS, advantages, grpo_loss, next_token_kl, truncated_is_weights
from .updater import GRPOUpdater, TrainablePolicy

__all__ = ["STD_EPS", "GRPOConfig", "GRPOUpdater", "TrainablePolicy", "advantages",
           "grpo_loss", "learning_rate_for", "next_token_kl", "truncated_is_weights"]
