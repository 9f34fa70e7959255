"""What ``resume`` reads from a stored study: its record (an older study's command line
read in the new form), with whatever runs or connects left to this command line."""

from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import ConfigError
from .settings import ALIASES, run_spec


def machine_config(config: dict[str, Any], engine: str | None, device: str | None,
             ignored: Any) -> dict[str, Any]:
    """The record's config with the policy's engine and device from this command line, and
    no ``init_adapter`` (a path to read; a resumed study has its own adapter)."""
    if config.get("init_adapter") is not None:
        ignored["init_adapter"] = config["init_adapter"]
        config = {k: v for k, v in config.items() if k != "init_adapter"}
    policy = config.get("policy")
    if not isinstance(policy, dict):
        return config
    for key, given in (("engine", engine), ("device", device)):
        if policy.get(key) not in (None, given):
            ignored[f"policy.{key}"] = policy[key]
    policy = {k: v for k, v in policy.items() if k not in ("engine", "device")}
    policy.update({k: v for k, v in (("engine", engine), ("device", device)) if v})
    return {**config, "policy": policy}


def read_record(settings: dict[str, Any], study: str) -> tuple[dict[str, Any], bool]:
    """The study's record, and whether its config is in the shorthand form. A study stored
    by an older migrate-opt (its command line under ``cli``) is read once in the new form;
    resuming stores the new record."""
    from ..factory import study_record

    record = study_record(settings, study)
    if record is not None:
        return record, False
    old = settings.get("cli")
    if not isinstance(old, dict) or not isinstance(old.get("task"), str):
        raise ConfigError(f"study {study!r} holds no record of its run (it predates them and "
                          "was not started by `migrate-opt run`): resume it from Python with "
                          "the same objects")
    flat = {k: v for k, v in old.items() if k in ALIASES or k in CONFIG_KEYS_OLD}
    config = run_spec(flat, {})["config"]
    for name, options in (old.get("sampler_options") or {}).items():
        config.setdefault("sampler_options", {})[name] = options
    record = {"optimizer": old.get("method", "migrate"), "config": config,
              "task": old["task"], "task_options": dict(old.get("task_options") or {}),
              "run": {"seed": old.get("seed", 0), "budget": old.get("budget")}}
    print(f"study {study!r} was stored by an older migrate-opt; read as "
          f"{json.dumps(record, default=str)}", file=sys.stderr)
    return record, True


CONFIG_KEYS_OLD = ("group", "group_size", "top_k", "grpo", "sampling", "lora", "init_adapter",
                   "adaptive_mix")
