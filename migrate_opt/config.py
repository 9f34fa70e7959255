"""``MigrateConfig``: everything that shapes a MiGrATe run, in one frozen, validated value.

A group is described in sampler terms: how many members each registered sampler
contributes, with that sampler's own options, e.g.
``{"on_policy": 2, "greedy": 1, "neighborhood": {"n": 2, "top_k": 3}}`` is the paper's
alpha/beta/gamma = 2/1/2 with parents from the top 3. Presets (``migrate_opt.presets``) turn
a name and a task into one of these; the optimizer factory turns it into objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .adaptive_mix import AdaptiveMixConfig
from .engines import Engine
from .errors import ConfigError
from .grpo import GRPOConfig
from .policy.base import LoRAConfig, SamplingConfig

DEFAULT_MODEL = "smollm2-135m-instruct"
DEVICES = ("auto", "cpu", "cuda", "mps")


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
    model: str = DEFAULT_MODEL
    """Registered policy name (``migrate-opt plugins``), Hugging Face id or local folder;
    used only when no policy object is given."""
    device: str | None = None
    """``auto`` (CUDA when visible), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; None: the
    policy's default (CPU)."""
    dtype: str | None = None
    """Torch floating dtype name for the model (``float32``, ``bfloat16``); None: float32."""
    lora: LoRAConfig | None = None
    """The adapter trained at test time; None: the policy's default."""
    engine: str | Engine | None = None
    """Generation engine (``hf``, ``openvino``, ``vllm``, ``vllm-server``, a plugin's, or an
    Engine object); None: the policy's default (hf). Training always scores with the
    torch model."""
    adaptive_mix: AdaptiveMixConfig | None = None
    """Reallocate the slots of the generating samplers every iteration by what each has
    found (``migrate_opt.adaptive_mix``); None keeps the counts of ``group`` fixed."""
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

    def __post_init__(self) -> None:
        if not isinstance(self.group, Mapping) or not self.group:
            raise ConfigError("group must map sampler names to counts, e.g. {'on_policy': 8}")
        specs = {str(k): SamplerSpec.of(str(k), v) for k, v in self.group.items()}
        if sum(s.n for s in specs.values()) < 1:
            raise ConfigError(f"a group needs at least one member, got {self.group!r}")
        object.__setattr__(self, "group", {k: s for k, s in specs.items() if s.n})
        self._coerce("grpo", GRPOConfig)
        self._coerce("sampling", SamplingConfig)
        self._coerce("lora", LoRAConfig)
        self._coerce("adaptive_mix", AdaptiveMixConfig)
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
        if self.device is not None and self.device.split(":")[0] not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), "
                              f"got {self.device!r}")

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

    def _coerce(self, name: str, kind: type) -> None:
        """Accept a plain mapping (from TOML or the CLI) for a nested config."""
        value = getattr(self, name)
        if isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(kind)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ConfigError(f"unknown {name} setting(s) {', '.join(unknown)}; "
                                  f"known: {', '.join(sorted(known))}")
            value = kind(**value)
        if value is not None and not isinstance(value, kind):
            raise ConfigError(f"{name} must be a {kind.__name__} or a mapping, got {value!r}")
        object.__setattr__(self, name, value)

    @property
    def size(self) -> int:
        """Members per group."""
        return sum(s.n for s in self.group.values())

    def policy_options(self) -> dict[str, Any]:
        """Options for the policy factory: only what was set."""
        options = {"device": self.device, "dtype": self.dtype, "lora": self.lora,
                   "engine": self.engine}
        return {k: v for k, v in options.items() if v is not None}

    def describe(self) -> dict[str, Any]:
        """JSON-able settings stored with the study."""
        lora = None if self.lora is None else {
            **dataclasses.asdict(self.lora), "target_modules": list(self.lora.target_modules)}
        return {
            "method": self.preset,
            "group": {k: {"n": s.n, **s.options} for k, s in self.group.items()},
            "train": self.train,
            "sampling": dataclasses.asdict(self.sampling),
            "grpo": None if self.grpo is None else dataclasses.asdict(self.grpo),
            "lora_config": lora,
            "adaptive_mix": None if self.adaptive_mix is None
            else dataclasses.asdict(self.adaptive_mix),
            "init_adapter": self.init_adapter,
        }
