"""The frozen base in bfloat16 for the GRPO step, the adapter in float32.

Training the adapter only needs the base's linear layers to carry activations and
gradients through; their weights never change. Where the CPU multiplies bf16 natively
(AVX512-BF16, AMX), running those matrix products in bf16 halves the weight traffic and
runs several times the FLOPs of fp32. ``torch.autocast`` would re-cast every frozen weight on
every forward (measured: the casts cost as much as the products saved), so the bf16 copies
are made once and kept. The LoRA matrices, their gradients, the optimizer state, norms,
attention and the log-softmax stay float32."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch

from ..errors import ConfigError

log = logging.getLogger(__name__)

TRAIN_PRECISIONS = ("auto", "float32", "bfloat16")


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (oneDNN says so)."""
    try:
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_train_precision(precision: str, device: torch.device, dtype: torch.dtype) -> str:
    """``auto``: bfloat16 for a float32 model on a CPU with native bf16, else float32. An
    explicit ``bfloat16`` the machine cannot honour falls back to float32 with a warning."""
    if precision not in TRAIN_PRECISIONS:
        raise ConfigError(f"train_precision must be one of {TRAIN_PRECISIONS}, got {precision!r}")
    if precision == "float32" or dtype != torch.float32:
        return "float32"  # a bf16 model already trains in bf16
    able = device.type == "cpu" and native_bf16()
    if precision == "bfloat16" and not able:
        log.warning("train_precision bfloat16 needs a CPU with native bf16 matrix units "
                    "(AVX512-BF16 or AMX); this machine has none: training in float32")
    return "bfloat16" if able else "float32"


class BF16Base:
    """Runs the model's frozen ``nn.Linear`` layers in bf16 while :meth:`active`."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._weights: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def _frozen_linears(self) -> list[torch.nn.Linear]:
        return [m for m in self.model.modules()
                if type(m) is torch.nn.Linear and not m.weight.requires_grad]

    def _bf16(self, layer: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
        key = id(layer)
        if key not in self._weights:  # frozen: cast once, kept for every later step
            bias = None if layer.bias is None else layer.bias.detach().to(torch.bfloat16)
            self._weights[key] = (layer.weight.detach().to(torch.bfloat16), bias)
        return self._weights[key]

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        layers = self._frozen_linears()
        for layer in layers:
            weight, bias = self._bf16(layer)
            layer.forward = _bf16_forward(weight, bias)  # type: ignore[method-assign]
        try:
            yield
        finally:
            for layer in layers:
                del layer.forward  # back to nn.Linear.forward


def _bf16_forward(weight: torch.Tensor, bias: torch.Tensor | None) -> Any:
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x.to(torch.bfloat16), weight, bias).to(x.dtype)

    return forward


__all__ = ["BF16Base", "TRAIN_PRECISIONS", "native_bf16", "resolve_train_precision"]
