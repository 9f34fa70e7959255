"""The LoRA adapter's settings (no torch: configs are checked before any model loads)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigError
from ..numbers import is_finite_number

ATTENTION_QV = ("q_proj", "v_proj")
"""The paper's targets: attention query and value."""
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every linear layer of a Llama block (``"all-linear"`` in a config)."""
MAX_RANK = 4096
"""No model this project runs is wider; a larger rank is a typo."""


@dataclass(frozen=True)
class LoRAConfig:
    """The LoRA adapter trained at test time.

    The defaults (rank 16, alpha 32, every linear layer) are the small-model settings
    measured in benchmarks/results/learning.md: on SmolLM2-135M they raised the on-policy
    reward where the paper's adapter left the samples as they were. :meth:`paper` gives the
    paper's rank 64, alpha 16 on q and v, tuned for Llama-3.2-3B."""

    rank: int = 16
    """Rank r of the low-rank update; more rank, more trainable parameters."""
    alpha: int = 32
    """Scale numerator: the update is multiplied by alpha / rank (an integer, as in peft)."""
    dropout: float = 0.0
    """Dropout on the adapter's input while training (0 keeps training deterministic)."""
    target_modules: tuple[str, ...] = ALL_LINEAR
    """Names of the linear layers that get an adapter; ``"all-linear"`` names every linear
    layer of a Llama block."""

    def __post_init__(self) -> None:
        if not _positive_int(self.rank) or self.rank > MAX_RANK:
            raise ConfigError(f"LoRA rank must be an integer in [1, {MAX_RANK}], got {self.rank!r}")
        if not _positive_int(self.alpha):
            raise ConfigError(f"LoRA alpha must be an integer >= 1, got {self.alpha!r}")
        if not is_finite_number(self.dropout) or not 0 <= self.dropout < 1:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}")
        targets = self.target_modules
        if isinstance(targets, str):
            # A bare string would be iterated letter by letter; wrap it instead.
            targets = ALL_LINEAR if targets == "all-linear" else (targets,)
        if not targets or not all(isinstance(m, str) and m for m in targets):
            raise ConfigError(
                f"LoRA target_modules must be non-empty module names, got {self.target_modules!r}"
            )
        object.__setattr__(self, "target_modules", tuple(targets))

    @classmethod
    def paper(cls) -> LoRAConfig:
        """The paper's adapter for Llama-3.2-3B: rank 64, alpha 16, on q and v."""
        return cls(rank=64, alpha=16, target_modules=ATTENTION_QV)

    @classmethod
    def of(cls, value: LoRAConfig | Mapping[str, Any] | None) -> LoRAConfig:
        """A LoRAConfig from itself, a table of its fields (a TOML config), or None (the
        defaults)."""
        if value is None:
            return cls()
        if isinstance(value, LoRAConfig):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"lora must be a table of LoRAConfig fields, got {value!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ConfigError(f"lora has unknown fields {unknown}; known: {sorted(known)}")
        return cls(**value)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
