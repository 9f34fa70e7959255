"""Policies: the protocol (``base``), the LoRA causal LM (``hf``), the default SmolLM2
(``smollm2``) and a tiny random model for smoke runs (``tiny``).

Only ``base`` is imported here: the others import torch, and are imported when a policy is
built (by name: ``migrate_opt.load_policy``)."""

from __future__ import annotations

from .base import Generation, LoRAConfig, Policy, SamplingConfig, Updater

DEFAULT_MODEL = "smollm2-135m-instruct"
"""The policy a run loads when none is named."""

__all__ = ["DEFAULT_MODEL", "Generation", "LoRAConfig", "Policy", "SamplingConfig", "Updater"]
