"""Nevergrad optimizers (NGOpt by default, or any registered name) through Nevergrad's own
ask/tell; Nevergrad minimises, so it is told the negated score."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from migrate_opt import ConfigError

from .external import AdapterConfig, LibraryAdapter
from .space import BoxEncoding, PoolEncoding

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NevergradConfig(AdapterConfig):
    """Settings of the Nevergrad adapter."""

    optimizer: str = "NGOpt"
    """A name from ``nevergrad.optimizers.registry`` (NGOpt, TwoPointsDE, CMA, ...)."""
    default_budget: int = 1000
    """Budget announced to Nevergrad when the run has none (NGOpt picks its algorithm
    from the budget)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.default_budget < 1:
            raise ConfigError(f"default_budget must be >= 1, got {self.default_budget}")


class NevergradOptimizer(LibraryAdapter):
    """A Nevergrad optimizer over the task's box encoding or candidate pool."""

    name = "nevergrad"
    config_class = NevergradConfig
    config: NevergradConfig

    def _library_start(self) -> None:
        import nevergrad as ng

        registry = ng.optimizers.registry
        if self.config.optimizer not in registry:
            close = difflib.get_close_matches(self.config.optimizer, list(registry), n=3)
            raise ConfigError(
                f"nevergrad: unknown optimizer {self.config.optimizer!r}"
                + (f"; did you mean {', '.join(close)}?" if close else "")
            )
        if isinstance(self.encoding, BoxEncoding):
            lo, hi = self.encoding.lower, self.encoding.upper
            parametrization: Any = ng.p.Array(init=(lo + hi) / 2, lower=lo, upper=hi)
        else:
            assert isinstance(self.encoding, PoolEncoding)
            parametrization = ng.p.Choice(list(self.encoding.choices))
        parametrization.random_state = np.random.RandomState(self.seed)
        self.library = registry[self.config.optimizer](
            parametrization=parametrization,
            budget=self.budget or self.config.default_budget,
            num_workers=self.config.batch_size,
        )
        self._worst_loss = 0.0

    def _loss(self, score: float | None) -> float:
        """Negated score; an invalid solution is told a loss worse than any seen so far
        (Nevergrad needs a number)."""
        if score is None:
            return self._worst_loss + 1.0
        self._worst_loss = max(self._worst_loss, -score)
        return -score

    def _library_ask(self) -> tuple[Any, Any]:
        candidate = self.library.ask()
        value = candidate.value
        return candidate, value.tolist() if isinstance(value, np.ndarray) else value

    def _library_tell(self, handle: Any, score: float | None) -> None:
        self.library.tell(handle, self._loss(score))

    def _library_drop(self, handle: Any) -> None:
        pass  # Nevergrad lets asked candidates go untold

    def _library_add(self, point: Any, score: float | None) -> None:
        from nevergrad.common.errors import TellNotAskedNotSupportedError

        value = np.asarray(point, dtype=float) if self.encoding.kind == "box" else point
        candidate = self.library.parametrization.spawn_child(new_value=value)
        try:
            self.library.tell(candidate, self._loss(score))
        except TellNotAskedNotSupportedError:
            log.warning("nevergrad %s cannot be told stored records; it starts afresh",
                        self.config.optimizer)
