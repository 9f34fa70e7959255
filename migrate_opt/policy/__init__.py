"""Policies: the protocol (``base``), the LoRA causal LM (``hf``), the default SmolLM2
(``smollm2``) and a tiny random model for smoke runs (``tiny``).

Only ``base`` is imported here: the others import torch, so :func:`load_policy` imports
them when a policy is actually built."""

from __future__ import annotations

from typing import Any

from .base import Generation, Policy, SamplingConfig, Updater

ALIASES = ("smollm2-135m-instruct", "tiny-random")


def load_policy(name_or_path: str, **kwargs: Any) -> Policy:
    """A policy by alias (``smollm2-135m-instruct``, ``tiny-random``), Hugging Face id in
    the local cache, or local folder. Keyword arguments go to the policy (``lora``,
    ``device``, ``dtype``, ``threads``; ``seed`` for ``tiny-random``)."""
    if name_or_path == "smollm2-135m-instruct":
        from . import smollm2

        return smollm2.load(**kwargs)
    if name_or_path == "tiny-random":
        from .tiny import tiny_policy

        return tiny_policy(**kwargs)
    from .hf import HFPolicy

    return HFPolicy(name_or_path, **kwargs)


__all__ = ["ALIASES", "Generation", "Policy", "SamplingConfig", "Updater", "load_policy"]
