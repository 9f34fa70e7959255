"""Optuna's TPE and GP samplers through Optuna's own ask/tell (``study.ask`` with fixed
distributions, ``study.tell``); Optuna is imported only when such an optimizer is built."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from migrate_opt import ConfigError

from .external import AdapterConfig, LibraryAdapter
from .space import BoxEncoding, PoolEncoding


@dataclass(frozen=True)
class OptunaConfig(AdapterConfig):
    """Settings of the Optuna adapters."""

    n_startup_trials: int = 10
    """Random trials before the model-based sampler takes over."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_startup_trials < 1:
            raise ConfigError(f"n_startup_trials must be >= 1, got {self.n_startup_trials}")


class OptunaOptimizer(LibraryAdapter):
    """A maximising in-memory Optuna study; one trial per proposed solution."""

    name = "optuna"
    config_class = OptunaConfig
    config: OptunaConfig
    sampler: ClassVar[str] = "tpe"

    def _library_start(self) -> None:
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution

        optuna.logging.set_verbosity(logging.WARNING)
        self.distributions: dict[str, Any]
        if isinstance(self.encoding, BoxEncoding):
            self.distributions = {
                f"x{i}": FloatDistribution(float(lo), float(hi))
                for i, (lo, hi) in enumerate(zip(self.encoding.lower, self.encoding.upper))
            }
        else:
            assert isinstance(self.encoding, PoolEncoding)
            self.distributions = {"x": CategoricalDistribution(self.encoding.choices)}
        self.study = optuna.create_study(direction="maximize", sampler=self._make_sampler())

    def _make_sampler(self) -> Any:
        from optuna.samplers import GPSampler, TPESampler

        n = self.config.n_startup_trials
        if self.sampler == "gp":
            return GPSampler(seed=self.seed, n_startup_trials=n)
        return TPESampler(seed=self.seed, n_startup_trials=n)

    def _point(self, params: dict[str, Any]) -> Any:
        if isinstance(self.encoding, BoxEncoding):
            return [params[f"x{i}"] for i in range(self.encoding.dimension)]
        return params["x"]

    def _params(self, point: Any) -> dict[str, Any]:
        if isinstance(self.encoding, BoxEncoding):
            return {f"x{i}": float(v) for i, v in enumerate(point)}
        return {"x": point}

    def _library_ask(self) -> tuple[Any, Any]:
        trial = self.study.ask(self.distributions)
        return trial, self._point(trial.params)

    def _library_tell(self, handle: Any, score: float | None) -> None:
        from optuna.trial import TrialState

        if score is None:
            self.study.tell(handle, state=TrialState.FAIL)
        else:
            self.study.tell(handle, score)

    def _library_drop(self, handle: Any) -> None:
        from optuna.trial import TrialState

        self.study.tell(handle, state=TrialState.FAIL, skip_if_finished=True)

    def _library_add(self, point: Any, score: float | None) -> None:
        from optuna.trial import TrialState, create_trial

        state = TrialState.COMPLETE if score is not None else TrialState.FAIL
        self.study.add_trial(create_trial(
            state=state, value=score, params=self._params(point),
            distributions=self.distributions,
        ))


class OptunaTPE(OptunaOptimizer):
    """Optuna's tree-structured Parzen estimator."""

    name = "optuna-tpe"
    sampler = "tpe"


class OptunaGP(OptunaOptimizer):
    """Optuna's Gaussian-process sampler (needs torch and scipy)."""

    name = "optuna-gp"
    sampler = "gp"
