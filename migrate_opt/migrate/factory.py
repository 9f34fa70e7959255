"""Names to objects for MiGrATe: the registered factory behind every LLM preset.

``create("optimizer", "migrate", task, policy="tiny-random", group_size=4)`` comes here:
the preset and the options make a :class:`MigrateConfig`; the policy and the samplers are
resolved through the registry; the updater is built when the config trains. The
:class:`Migrate` constructor then only wires what it is given."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from ..factory import create_policy, create_sampler, takes_option
from ..policy.base import Policy, Updater
from ..samplers import Sampler
from ..storage import Database
from ..task import Task
from . import Migrate
from .config import MigrateConfig
from .presets import Preset, preset, preset_config


def build_migrate(
    preset_name: str,
    task: Task,
    *,
    policy: Policy | str | None = None,
    config: MigrateConfig | None = None,
    samplers: Mapping[str, Sampler] | None = None,
    updater: Updater | None = None,
    database: Database | None = None,
    seed: int = 0,
    budget: int | None = None,
    **options: Any,
) -> Migrate:
    """A :class:`Migrate` for ``preset_name`` (or ``config``, when given) on ``task``.

    ``policy`` is a Policy object or a registered name (then ``model`` need not be given);
    ``options`` are :func:`~migrate_opt.migrate.presets.preset_config`'s: group_size, group, top_k,
    train, grpo, sampling, model, device, dtype, lora."""
    if isinstance(policy, str):
        if "model" in options and options["model"] != policy:
            raise ConfigError(f"policy={policy!r} and model={options['model']!r} disagree: "
                              "give one of them")
        options["model"] = policy
        policy = None
    if config is not None and options:
        raise ConfigError(f"give a MigrateConfig or options ({', '.join(options)}), not both")
    cfg = config or preset_config(preset(preset_name), task, **options,
                                  takes_top_k=lambda s: takes_option("sampler", s, "top_k"))
    if policy is None:
        policy = create_policy(cfg.model, **cfg.policy_options())
    elif cfg.policy_options():
        raise ConfigError(
            f"{', '.join(cfg.policy_options())} apply when migrate-opt loads the model; "
            "set them on the policy object you pass instead"
        )
    given = dict(samplers or {})
    clash = [k for k in given if k in cfg.group and cfg.group[k].options]
    if clash:
        raise ConfigError(f"options were given for sampler(s) {', '.join(clash)} that were "
                          "passed as objects: configure the objects instead")
    built = {k: given.get(k) or create_sampler(k, **s.options) for k, s in cfg.group.items()}
    if cfg.train and updater is None and policy.trainable:
        from ..grpo import GRPOUpdater

        updater = GRPOUpdater(cfg.grpo)
    return Migrate(task, policy=policy, config=cfg, samplers=built, updater=updater,
                   database=database, seed=seed, budget=budget)


def preset_factories() -> dict[str, tuple[Callable[..., Migrate], str]]:
    """Registered name -> (factory, description) for every preset and deprecated alias."""
    from .presets import DEPRECATED, PRESETS

    out: dict[str, tuple[Callable[..., Migrate], str]] = {}
    for name, description in [(p.name, p.description) for p in PRESETS] + [
        (old, f"deprecated name of {new!r}") for old, new in DEPRECATED.items()
    ]:
        factory = functools.partial(build_migrate, name)
        factory.preset = name  # type: ignore[attr-defined]  # tells the CLI it is an LLM preset
        out[name] = (factory, description)
    return out


__all__ = ["Preset", "build_migrate", "preset_factories"]
