"""Adapters that carry over: start a run's LoRA adapter from another study's last checkpoint.

``FILE[:STUDY]`` names the source (the study may be left out when the file holds one). Only
the adapter comes over, never the optimizer state: the new run takes its own steps. A source
trained on another base model or with another LoRA shape is refused, naming both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import CheckpointError, ConfigError


def split_source(source: str) -> tuple[str, str | None]:
    """``FILE[:STUDY]`` -> (file, study or None). A colon inside a scheme (``sqlite://``) or a
    drive letter is part of the file."""
    head, sep, tail = source.rpartition(":")
    if sep and head and tail and not tail.startswith(("/", "\\")) and len(head) > 1:
        return head, tail
    return source, None


def load_source_adapter(source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(adapter state, the source study's settings); errors say what to do."""
    from ..factory import open_database, pick_study
    from ..storage.checkpoint import decode

    path, study = split_source(source)
    db = open_database(path, pick_study(path, study), readonly=True)
    try:
        checkpoint = db.load_checkpoint()
        settings = _policy_settings(db.settings())
    finally:
        db.close()
    if checkpoint is None:
        raise ConfigError(f"{source}: the study has no adapter checkpoint (did it train?); "
                          "pick a study that ran a training preset")
    try:
        adapter, _ = decode(checkpoint[1])
    except CheckpointError as exc:
        raise ConfigError(f"{source}: its checkpoint cannot be loaded safely: {exc}") from None
    return adapter, settings


def _policy_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The source's base model and LoRA shape, from its record (or, in a study stored
    before the record, from the policy's own description)."""
    config = settings.get("config")
    policy = config.get("policy") if isinstance(config, Mapping) else None
    if isinstance(policy, Mapping):
        return {"model": policy.get("name"), "lora": policy.get("lora")}
    return {"model": settings.get("model"), "lora": settings.get("lora")}


def check_compatible(
    source: str, settings: Mapping[str, Any], adapter: Mapping[str, Any],
    policy: Mapping[str, Any], own: Mapping[str, Any],
) -> None:
    """Refuse an adapter from another base model or with another LoRA shape."""
    theirs, ours = settings.get("model"), policy.get("model")
    if theirs and ours and theirs != ours:
        raise ConfigError(f"{source} was trained on {theirs!r}, this run uses {ours!r}: an "
                          "adapter only carries over between runs of the same base model")
    missing = sorted(set(own) - set(adapter))
    extra = sorted(set(adapter) - set(own))
    shapes = sorted(k for k in set(own) & set(adapter)
                    if tuple(own[k].shape) != tuple(adapter[k].shape))
    if missing or extra or shapes:
        raise ConfigError(
            f"{source} has another LoRA shape (source lora {settings.get('lora')}, this run "
            f"{policy.get('lora')}; differing tensors: {(missing + extra + shapes)[:3]}): use "
            "the same rank and target modules as the source"
        )
