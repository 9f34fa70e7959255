"""The paper's methods as presets: a name, how a group of n members splits among samplers,
and whether the adapter trains. Each preset is a registered optimizer::

    create("optimizer", "migrate-opro", task, policy="tiny-random", group_size=8,
           group={"opro": {"n": 2, "history": 10}}, grpo={"learning_rate": 5e-5})

A task states its preferred mix in sampler terms (``Task.default_group``); the user's
options override the task's, which override the preset's."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..task import Task
from .config import MigrateConfig, SamplerSpec

log = logging.getLogger(__name__)


def _migrate_split(n: int) -> tuple[int, int, int]:
    """alpha/beta/gamma for a group of n: one replay, a quarter neighbourhood (rounded up),
    the rest on-policy. Gives the paper's 2/1/2 for n=5 and 11/1/4 for n=16."""
    if n < 3:
        return max(n - 1, 0), 1 if n > 1 else 0, 1
    gamma = math.ceil(n / 4)
    return n - 1 - gamma, 1, gamma


@dataclass(frozen=True)
class Preset:
    """A named way of building groups, with or without GRPO training."""

    name: str
    train: bool
    description: str
    composition: Callable[[int], dict[str, int]]
    """Sampler counts for a group of n members."""
    explorer: str | None = None
    """The sampler that takes what the task's pinned counts leave (MiGrATe variants)."""


def _mix(explorer: str) -> Callable[[int], dict[str, int]]:
    def composition(n: int) -> dict[str, int]:
        a, b, g = _migrate_split(n)
        return {"on_policy": a, "greedy": b, explorer: g}

    return composition


PRESETS: tuple[Preset, ...] = (
    Preset("sample", False, "inference-only sampling from the task prompt",
           lambda n: {"on_policy": n}),
    Preset("ns", False, "inference-only neighbourhood search", lambda n: {"neighborhood": n}),
    Preset("opro", False, "inference-only OPRO (history in the prompt)", lambda n: {"opro": n}),
    Preset("grpo", True, "on-policy GRPO", lambda n: {"on_policy": n}),
    Preset("grpo-greedy", True, "on-policy GRPO plus one replay",
           lambda n: {"on_policy": n - 1, "greedy": 1}),
    Preset("migrate", True, "MiGrATe: on-policy + replay + neighbourhood, GRPO",
           _mix("neighborhood"), "neighborhood"),
    Preset("migrate-opro", True, "MiGrATe with OPRO prompts", _mix("opro"), "opro"),
    Preset("migrate-evo", True, "MiGrATe with island parents", _mix("islands"), "islands"),
)
PRESET_NAMES = tuple(p.name for p in PRESETS)
DEPRECATED = {"random": "sample"}
"""Old names that still resolve (stored studies, configs), with a warning."""


def preset(name: str) -> Preset:
    if name in DEPRECATED:
        log.warning("method %r is deprecated; it is now called %r", name, DEPRECATED[name])
        name = DEPRECATED[name]
    for p in PRESETS:
        if p.name == name:
            return p
    raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESET_NAMES)}")


def preset_config(
    p: Preset,
    task: Task,
    *,
    group_size: int | None = None,
    group: Mapping[str, Any] | None = None,
    top_k: int | None = None,
    train: bool | None = None,
    sampler_options: Mapping[str, Mapping[str, Any]] | None = None,
    takes_top_k: Callable[[str], bool] = lambda sampler: False,
    **settings: Any,
) -> MigrateConfig:
    """The config of preset ``p`` on ``task``. ``group`` replaces the preset's composition;
    ``sampler_options`` (sampler -> options) and ``top_k`` (every sampler of the group that
    takes it, as ``takes_top_k`` says: the factory asks the registry) add options;
    ``settings`` are the other :class:`MigrateConfig` fields (grpo, sampling, model, device,
    dtype, lora)."""
    if group is not None and group_size is not None:
        size = sum(SamplerSpec.of(k, v).n for k, v in group.items())
        if size != group_size:
            raise ConfigError(f"group_size={group_size} contradicts the group given "
                              f"({size} members): give one of them")
    specs = _composition(p, task, group_size, group)
    _apply_task_options(specs, task)
    for name, options in (sampler_options or {}).items():
        if name not in specs:
            raise ConfigError(f"options were given for sampler {name!r}, which is not in the "
                              f"group ({', '.join(specs)}): add it to the group or drop them")
        specs[name] = SamplerSpec(specs[name].n, {**specs[name].options, **options})
    if top_k is not None:
        _apply_top_k(specs, top_k, takes_top_k)
    group_out = {k: {"n": s.n, **s.options} for k, s in specs.items()}
    return MigrateConfig(group_out, train=p.train if train is None else train, preset=p.name,
                         **settings)


def _composition(
    p: Preset, task: Task, size: int | None, group: Mapping[str, Any] | None
) -> dict[str, SamplerSpec]:
    if group is not None:
        return {k: SamplerSpec.of(k, v) for k, v in group.items()}
    n = size if size is not None else task.default_group_size
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"group_size must be an integer >= 1, got {n!r}")
    counts = p.composition(n)
    pins = {k: SamplerSpec.of(k, v).n for k, v in task.default_group.items()
            if isinstance(v, int) or (isinstance(v, Mapping) and "n" in v)}
    if p.explorer is not None and pins:
        for k in counts:
            if k != p.explorer and k in pins:
                counts[k] = pins[k]
        counts[p.explorer] = n - sum(v for k, v in counts.items() if k != p.explorer)
        if counts[p.explorer] < 0:
            raise ConfigError(f"task {task.name!r} pins more members than a group of {n} "
                              "holds: raise group_size")
    return {k: SamplerSpec(v) for k, v in counts.items()}


def _apply_task_options(specs: dict[str, SamplerSpec], task: Task) -> None:
    """The task's sampler options are defaults under the user's."""
    for name, spec in list(specs.items()):
        preferred = task.default_group.get(name)
        if isinstance(preferred, Mapping):
            options = {k: v for k, v in preferred.items() if k != "n"}
            specs[name] = SamplerSpec(spec.n, {**options, **spec.options})


def _apply_top_k(specs: dict[str, SamplerSpec], top_k: int,
                 takes_top_k: Callable[[str], bool]) -> None:
    takers = [k for k in specs if takes_top_k(k)]
    if not takers:
        raise ConfigError(f"top_k applies to samplers that pick parents, and this group "
                          f"({', '.join(specs)}) has none; drop top_k")
    for k in takers:
        specs[k] = SamplerSpec(specs[k].n, {**specs[k].options, "top_k": top_k})
