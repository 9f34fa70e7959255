"""``MigrateConfig``: everything that shapes a MiGrATe run, in one frozen, validated value.

A group is described in sampler terms: how many members each registered sampler
contributes, with that sampler's own options, e.g.
``{"on_policy": 2, "greedy": 1, "neighborhood": {"n": 2, "top_k": 3}}`` is the paper's
alpha/beta/gamma = 2/1/2 with parents from the top 3. Presets (``migrate_opt.migrate.presets``) turn
a name and a task into one of these; the optimizer factory turns it into objects."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

from ..configs import config_from, to_mapping
from ..errors import ConfigError
from ..grpo import GRPOConfig
from ..policy import DEFAULT_MODEL
from ..policy.base import LoRAConfig, SamplingConfig
from ..samplers.adaptive_mix import AdaptiveMixConfig

DEVICES = ("auto", "cpu", "cuda", "mps")
NOT_STORED = ("checkpoint_every", "checkpoint_seconds")
"""Fields that never change a result: a study's record leaves them out."""
LOOSE_POLICY_FIELDS = ("model", "device", "dtype", "lora", "engine")
"""Former MigrateConfig fields, now ``policy.*`` (``model`` is ``policy.name``)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicySpec:
    """The policy a run loads, by name: what ``migrate_opt.load_policy`` is given."""

    name: str = DEFAULT_MODEL
    """Registered policy (``migrate-opt plugins``), Hugging Face id or local folder."""
    device: str | None = None
    """``auto`` (CUDA when visible), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; None: the
    policy's default (CPU)."""
    dtype: str | None = None
    """Torch floating dtype name for the model (``float32``, ``bfloat16``); None: float32."""
    lora: LoRAConfig | None = None
    """The adapter trained at test time; None: the policy's default."""
    engine: str | None = None
    """Generation engine (``hf``, ``openvino``, ``vllm``, a plugin's); None: the policy's
    default (hf). Training always scores with the torch model."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Other keyword options of the policy's factory (``seed`` for tiny-random, ...)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"policy.name must name a policy, got {self.name!r}")
        object.__setattr__(self, "lora", config_from(LoRAConfig, self.lora, "policy.lora"))
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"policy.options must be a table, got {self.options!r}")
        clash = sorted(set(self.options) & {"name", "device", "dtype", "lora", "engine"})
        if clash:
            raise ConfigError(f"policy.options repeats {', '.join(clash)}: set policy."
                              f"{clash[0]} itself")
        object.__setattr__(self, "options", dict(self.options))
        if self.device is not None and self.device.split(":")[0] not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), "
                              f"got {self.device!r}")

    def load_options(self) -> dict[str, Any]:
        """Keyword options for the policy's factory: only what was set."""
        given = {"device": self.device, "dtype": self.dtype, "lora": self.lora,
                 "engine": self.engine}
        return {**{k: v for k, v in given.items() if v is not None}, **self.options}

    @classmethod
    def of(cls, value: PolicySpec | Mapping[str, Any] | str | None) -> PolicySpec:
        """From a spec, a table of its fields, or a bare name."""
        if isinstance(value, str):
            return cls(value)
        return config_from(cls, value, "policy") or cls()


@dataclass(frozen=True)
class SamplerSpec:
    """One sampler's share of a group."""

    n: int
    """Members (completions or replays) it contributes per iteration."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options of the sampler's factory (``top_k``, ``history``, ...)."""

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise ConfigError(f"a sampler's count n must be an integer >= 0, got {self.n!r}")
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"sampler options must be a mapping, got {self.options!r}")
        object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def of(cls, name: str, spec: Any) -> SamplerSpec:
        """From a count, a mapping ``{"n": count, **options}`` or a SamplerSpec."""
        if isinstance(spec, SamplerSpec):
            return spec
        if isinstance(spec, Mapping):
            options = dict(spec)
            if "n" not in options:
                raise ConfigError(f"group entry {name!r} needs a count n, e.g. "
                                  f"{{'n': 2, **options}}; got {dict(spec)!r}")
            return cls(options.pop("n"), options)
        return cls(spec)


@dataclass(frozen=True)
class MigrateConfig:
    """A MiGrATe run: the group, sampling, training and the model to load.

    Build one directly, or let ``create("optimizer", preset, task, **options)`` build it from
    a preset. Contradictory settings are refused with a message saying what to do."""

    group: Mapping[str, Any]
    """Sampler name -> count, or ``{"n": count, **sampler options}``; normalised to
    :class:`SamplerSpec`. Samplers with count 0 are dropped."""
    train: bool = True
    """Take a GRPO step on the adapter after every group (False: inference only)."""
    grpo: GRPOConfig | None = None
    """The GRPO update when ``train``; None then means the defaults. Must be None when not
    training (it would be recorded and never used)."""
    sampling: SamplingConfig = SamplingConfig()
    """How completions are sampled."""
    policy: PolicySpec = PolicySpec()
    """The policy to load (name, device, dtype, LoRA, engine, options); a table or a bare
    name are accepted. Used only when no policy object is given."""
    adaptive_mix: AdaptiveMixConfig | None = None
    """Reallocate the slots of the generating samplers every iteration by what each has
    found (``migrate_opt.samplers.adaptive_mix``); None keeps the counts of ``group`` fixed."""
    init_adapter: str | None = None
    """``FILE[:STUDY]``: start the adapter from that study's last checkpoint (same base
    model and LoRA shape) instead of from zero; only used when this study has none yet."""
    preset: str = "custom"
    """The preset this config came from (stored with the study)."""
    checkpoint_every: int | None = 20
    """Write the adapter and optimizer state after this many trained groups (and after
    ``checkpoint_seconds``, and when a run ends); None: only by time and at the end. The
    stored groups are the truth: a resume replays the GRPO steps of the groups stored after
    the checkpoint, so a resumed run equals an uninterrupted one whatever the interval.
    Not stored with the study (it never changes a result)."""
    checkpoint_seconds: float | None = 60.0
    """Also write one once this many seconds passed since the last; None: by count only."""
    model: InitVar[str | None] = None
    device: InitVar[str | None] = None
    dtype: InitVar[str | None] = None
    lora: InitVar[Any] = None
    engine: InitVar[str | None] = None

    def __post_init__(self, model: str | None, device: str | None, dtype: str | None,
                      lora: Any, engine: str | None) -> None:
        self._fold_loose_policy_fields(model=model, device=device, dtype=dtype, lora=lora,
                                       engine=engine)
        if not isinstance(self.group, Mapping) or not self.group:
            raise ConfigError("group must map sampler names to counts, e.g. {'on_policy': 8}")
        specs = {str(k): SamplerSpec.of(str(k), v) for k, v in self.group.items()}
        if sum(s.n for s in specs.values()) < 1:
            raise ConfigError(f"a group needs at least one member, got {self.group!r}")
        object.__setattr__(self, "group", {k: s for k, s in specs.items() if s.n})
        object.__setattr__(self, "grpo", config_from(GRPOConfig, self.grpo, "grpo"))
        object.__setattr__(self, "sampling",
                           config_from(SamplingConfig, self.sampling, "sampling"))
        object.__setattr__(self, "adaptive_mix",
                           config_from(AdaptiveMixConfig, self.adaptive_mix, "adaptive_mix"))
        self._check_adaptive_mix()
        if self.init_adapter is not None and not self.train:
            raise ConfigError("init_adapter only applies to a training preset: drop it, or "
                              "pick one that trains (grpo, migrate, ...)")
        if not self.train and self.grpo is not None:
            raise ConfigError(
                f"GRPO settings were given for {self.preset!r}, which does not train: drop "
                "them, or pick a training preset (grpo, migrate, ...) or train=True"
            )
        if self.train and self.grpo is None:
            object.__setattr__(self, "grpo", GRPOConfig())
        self._check_checkpoint_interval()
        if self.sampling is None:
            object.__setattr__(self, "sampling", SamplingConfig())

    def _fold_loose_policy_fields(self, **loose: Any) -> None:
        """The five former policy fields, kept for one release: they warn once and become
        ``policy``'s."""
        given = {k: v for k, v in loose.items() if v is not None}
        object.__setattr__(self, "policy", PolicySpec.of(self.policy))
        if not given:
            return
        _warn_once("MigrateConfig(" + ", ".join(given) + "=...) is deprecated: use policy="
                   "{" + ", ".join(f"'{'name' if k == 'model' else k}': ..." for k in given)
                   + "}")
        fields = {"name" if k == "model" else k: v for k, v in given.items()}
        object.__setattr__(self, "policy", PolicySpec.of({**to_mapping(self.policy), **fields}))

    def _check_checkpoint_interval(self) -> None:
        every, seconds = self.checkpoint_every, self.checkpoint_seconds
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or every < 1):
            raise ConfigError(f"checkpoint_every must be an integer >= 1 or None, got {every!r}")
        if seconds is not None and (isinstance(seconds, bool)
                                    or not isinstance(seconds, (int, float)) or seconds < 0):
            raise ConfigError(f"checkpoint_seconds must be a number >= 0 or None, got "
                              f"{seconds!r}")

    def _check_adaptive_mix(self) -> None:
        mix = self.adaptive_mix
        if mix is None:
            return
        adapted = self.adapted_samplers()
        if len(adapted) < 2:
            raise ConfigError(
                f"an adaptive mix needs two or more samplers to share slots; the group has "
                f"{', '.join(adapted) or 'none'} besides the fixed {', '.join(mix.fixed)}"
            )
        slots = sum(self.group[n].n for n in adapted)  # type: ignore[union-attr]
        if mix.floor * len(adapted) > slots:
            raise ConfigError(f"adaptive mix floor {mix.floor} x {len(adapted)} samplers needs "
                              f"{mix.floor * len(adapted)} slots, they have {slots}: lower "
                              "the floor or give them more members")

    def adapted_samplers(self) -> list[str]:
        """The samplers whose slots an adaptive mix moves (all but its ``fixed`` ones)."""
        fixed = self.adaptive_mix.fixed if self.adaptive_mix else ()
        return [n for n in self.group if n not in fixed]

    @property
    def size(self) -> int:
        """Members per group."""
        return sum(s.n for s in self.group.values())

    def to_mapping(self) -> dict[str, Any]:
        """JSON-able data that :meth:`from_mapping` turns back into an equal config (stored
        with the study, so ``resume`` and ``report`` rebuild the run from it)."""
        data = {k: v for k, v in to_mapping(self).items() if k not in NOT_STORED}
        data["group"] = {k: {"n": s.n, **to_mapping(s.options)} for k, s in self.group.items()}
        return {"preset": self.preset, **{k: v for k, v in data.items() if k != "preset"}}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MigrateConfig:
        """The config a mapping of its fields describes (nested tables for ``group``,
        ``grpo``, ``sampling``, ``policy``, ``adaptive_mix``); unknown keys are refused with
        the known ones listed."""
        config = config_from(cls, data, "MiGrATe")
        assert config is not None
        return config


def _former_field(self: MigrateConfig, name: str) -> Any:
    """``config.lora`` and the other former policy fields, read from ``config.policy``."""
    if name not in LOOSE_POLICY_FIELDS:
        raise AttributeError(name)
    new = "name" if name == "model" else name
    _warn_once(f"MigrateConfig.{name} is deprecated: use config.policy.{new}")
    return getattr(self.policy, new)


for _name in LOOSE_POLICY_FIELDS:  # init-only: no class attribute may answer for them
    delattr(MigrateConfig, _name)
MigrateConfig.__getattr__ = _former_field  # type: ignore[attr-defined]

_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)
