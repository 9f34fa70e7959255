"""The ``hf`` engine: the policy's own torch model, with shared-prefix prefill."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from . import Engine
from .decode import Backend, DecodeSpec, Sampled, decode, position_ids
from .model import EngineModel


def _cache_keyword() -> str:
    """transformers 5 renamed ``past_key_values`` to ``cache``."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


class TorchBackend(Backend):
    """A transformers causal LM (peft-wrapped or not) over its own key/value cache."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.cache_kw = _cache_keyword()

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor,
                 cache: Any) -> tuple[torch.Tensor, Any]:
        kw = {self.cache_kw: cache} if cache is not None else {}
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                         position_ids=pos.to(self.device), use_cache=True, logits_to_keep=1,
                         **kw)
        return out.logits[:, -1], getattr(out, self.cache_kw)

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self._forward(ids, mask, position_ids(mask), None)

    def select(self, cache: Any, rows: torch.Tensor) -> Any:
        cache.reorder_cache(rows.to(self.device))  # index_select on the batch: repeats rows
        return cache

    def step(self, tokens: torch.Tensor, mask: torch.Tensor, cache: Any
             ) -> tuple[torch.Tensor, Any]:
        return self._forward(tokens, mask, mask.sum(-1, keepdim=True) - 1, cache)


class HFEngine(Engine):
    """Samples with the policy's torch model; ``share_prefix=False`` is the reference path
    that prefills every member (what ``model.generate`` did)."""

    name = "hf"

    def __init__(self, share_prefix: bool = True) -> None:
        self.share_prefix = share_prefix

    @torch.no_grad()
    def generate(
        self, model: EngineModel, prompts: Sequence[Sequence[int]], spec: DecodeSpec
    ) -> list[Sampled]:
        return decode(TorchBackend(model.model), prompts, spec, share_prefix=self.share_prefix)

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "share_prefix": self.share_prefix}
