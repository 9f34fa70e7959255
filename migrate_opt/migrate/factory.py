"""Names to objects for MiGrATe: the registered factory behind every LLM preset.

``create("optimizer", "migrate", task, policy="tiny-random", group_size=4)`` comes here:
the preset and the options make a :class:`MigrateConfig`; the policy and the samplers are
resolved through the registry; the updater is built when the config trains. The
:class:`Migrate` constructor then only wires what it is given."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from ..factory import create_policy, create_sampler, takes_option
from ..policy.base import Policy, SamplingConfig, Updater
from ..samplers import Sampler
from ..storage import Database
from ..task import Task
from . import Migrate
from .config import LOOSE_POLICY_FIELDS, MigrateConfig, PolicySpec
from .presets import Preset, preset, preset_config

SHORTHANDS = ("group_size", "top_k", "sampler_options")
"""Preset keywords that become the config's ``group`` (see ``preset_config``)."""


def build_migrate(
    preset_name: str,
    task: Task,
    *,
    policy: Policy | PolicySpec | Mapping[str, Any] | str | None = None,
    config: MigrateConfig | Mapping[str, Any] | None = None,
    samplers: Mapping[str, Sampler] | None = None,
    updater: Updater | None = None,
    database: Database | None = None,
    seed: int = 0,
    budget: int | None = None,
    **options: Any,
) -> Migrate:
    """A :class:`Migrate` for ``preset_name`` (or ``config``, when given) on ``task``.

    ``policy`` is a Policy object, or the policy to load: a registered name, a Hugging Face
    id or a table of :class:`PolicySpec` fields. ``options`` are :class:`MigrateConfig`'s
    fields (group, train, grpo, sampling, adaptive_mix, init_adapter), the preset's
    shorthands group_size, top_k and sampler_options, and ``model``, ``device``, ``dtype``,
    ``lora``, ``engine`` for the policy's. ``config`` (a MigrateConfig or its
    ``to_mapping()``, as a study stores it) replaces all of them."""
    built = policy if isinstance(policy, Policy) else None
    if policy is not None and built is None:
        options["policy"] = policy
    engine = options.pop("engine") if not isinstance(options.get("engine"), (str, type(None))) \
        else None  # an Engine object (a vllm-server connection): not data, never stored
    cfg = _config(preset_name, task, config, options)
    if built is None:
        given = cfg.policy.load_options()
        if engine is not None:
            given["engine"] = engine
        built = create_policy(cfg.policy.name, **given)
    elif cfg.policy != PolicySpec():
        raise ConfigError(
            f"policy settings ({', '.join(cfg.policy.load_options()) or 'model'}) apply when "
            "migrate-opt loads the model; set them on the policy object you pass instead"
        )
    given = dict(samplers or {})
    clash = [k for k in given if k in cfg.group and cfg.group[k].options]
    if clash:
        raise ConfigError(f"options were given for sampler(s) {', '.join(clash)} that were "
                          "passed as objects: configure the objects instead")
    made = {k: given.get(k) or create_sampler(k, **s.options) for k, s in cfg.group.items()}
    if cfg.train and updater is None and built.trainable:
        from ..grpo import GRPOUpdater

        updater = GRPOUpdater(cfg.grpo)
    return Migrate(task, policy=built, config=cfg, samplers=made, updater=updater,
                   database=database, seed=seed, budget=budget)


def _config(preset_name: str, task: Task, config: MigrateConfig | Mapping[str, Any] | None,
            options: dict[str, Any]) -> MigrateConfig:
    if config is not None:
        if options:
            raise ConfigError(f"give a config or options ({', '.join(options)}), not both")
        return config if isinstance(config, MigrateConfig) else MigrateConfig.from_mapping(config)
    _normalise(preset_name, options)
    return preset_config(preset(preset_name), task, **options,
                         takes_top_k=lambda s: takes_option("sampler", s, "top_k"))


def _normalise(preset_name: str, options: dict[str, Any]) -> None:
    """Fold the policy's shorthands into ``policy`` and refuse unknown options, in place."""
    loose = {k: options.pop(k) for k in LOOSE_POLICY_FIELDS if k in options}
    if loose:
        spec = options.get("policy")
        named = {"name": spec} if isinstance(spec, str) else dict(spec or {})
        theirs = loose.pop("model", None)
        if theirs is not None and named.get("name", theirs) != theirs:
            raise ConfigError(f"policy={named['name']!r} and model={theirs!r} disagree: give "
                              "one of them")
        options["policy"] = {**named, **loose, **({"name": theirs} if theirs else {})}
    known = {*SHORTHANDS, *(f.name for f in dataclasses.fields(MigrateConfig)),
             *LOOSE_POLICY_FIELDS} - {"preset"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for {preset_name!r}; "
                          f"known: {', '.join(sorted(known))}")


def check_options(preset_name: str, options: Mapping[str, Any]) -> None:
    """Refuse options that cannot make a config for ``preset_name``, before any task or
    model exists (the harness checks its grid when the file is parsed)."""
    given = dict(options)
    _normalise(preset_name, given)
    p = preset(preset_name)
    group = given.get("group")
    MigrateConfig(group or {"on_policy": 1}, train=given.get("train", p.train),
                  grpo=given.get("grpo"), sampling=given.get("sampling", SamplingConfig()),
                  policy=given.get("policy", PolicySpec()),
                  adaptive_mix=given.get("adaptive_mix") if group else None,
                  init_adapter=given.get("init_adapter"), preset=p.name)


def preset_factories() -> dict[str, tuple[Callable[..., Migrate], str]]:
    """Registered name -> (factory, description) for every preset and deprecated alias."""
    from .presets import DEPRECATED, PRESETS

    out: dict[str, tuple[Callable[..., Migrate], str]] = {}
    for name, description in [(p.name, p.description) for p in PRESETS] + [
        (old, f"deprecated name of {new!r}") for old, new in DEPRECATED.items()
    ]:
        out[name] = (_preset_factory(name, description), description)
    return out


def _preset_factory(name: str, description: str) -> Callable[..., Migrate]:
    """``build_migrate`` bound to one preset: a function with a docstring of its own, so
    ``help()`` on a registered preset says what it is and which options it takes."""
    def factory(task: Task, **options: Any) -> Migrate:
        return build_migrate(name, task, **options)

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = f"{description} (preset {name!r}).\n\n{build_migrate.__doc__}"
    return factory


__all__ = ["Preset", "build_migrate", "check_options", "preset_factories"]
