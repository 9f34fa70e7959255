"""Policies: the protocol (``base``), the LoRA causal LM (``hf``), the default SmolLM2
(``smollm2``) and a tiny random model for smoke runs (``tiny``).

Only ``base`` is imported here: the others import torch, so :func:`load_policy` imports
them when a policy is actually built."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Generation, LoRAConfig, Policy, SamplingConfig, Updater


def load_policy(name_or_path: str, **options: Any) -> Policy:
    """A registered policy (``migrate-opt plugins`` lists them: smollm2-135m-instruct,
    tiny-random, a plugin's), or else a Hugging Face id in the local cache or a local folder
    (the registered ``hf`` policy). Options go to the policy: ``lora``, ``device`` (``auto``
    picks CUDA when torch sees a GPU), ``dtype``, ``threads``; ``seed`` for tiny-random."""
    from ..registry import registry

    if "device" in options:
        options["device"] = resolve_device(options["device"])
    reg = registry()
    if name_or_path in reg.entries["policy"]:
        return reg.create("policy", name_or_path, **options)  # type: ignore[no-any-return]
    return reg.create("policy", "hf", model=name_or_path, **options)  # type: ignore[no-any-return]


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is a
    clear error rather than a stack trace from deep inside torch."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for, and torch sees no CUDA GPU here "
                          "(torch.cuda.is_available() is False): use --device cpu or auto")
    return device


__all__ = [
    "Generation", "LoRAConfig", "Policy", "SamplingConfig", "Updater", "load_policy",
    "resolve_device",
]
