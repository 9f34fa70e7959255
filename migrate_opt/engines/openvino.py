"""The ``openvino`` engine: the policy's Llama converted once to an OpenVINO model (cached
on disk), run by the OpenVINO CPU runtime inside our shared-prefix decode loop.

The adapter is an *input* of the converted model (see :mod:`.ov_export`): each call feeds
the LoRA matrices of the torch policy as they are now, sharing their memory, so sampling
always follows the latest GRPO step and no adapter version needs tracking. Sampling,
stopping, log-probs and logits processors (grammars) are the same code as the ``hf``
engine's, so only the network differs."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, EngineError
from . import Engine, require
from .decode import Backend, DecodeSpec, Sampled, decode
from .model import EngineModel

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "f32", "f16", "bf16")
DEFAULT_PRECISION = "auto"


class OpenVINOEngine(Engine):
    """OpenVINO on the CPU. ``precision``:

    - ``f32`` reproduces the torch model to ~1e-5 in the logits (greedy tokens equal);
    - ``f16`` reads the base weights stored in fp16 and computes in fp32 (half the weight
      traffic; logits within ~1e-2);
    - ``bf16`` computes in bf16 where the CPU has bf16 units (fastest, furthest from torch);
      elsewhere it falls back to ``f16`` with one warning;
    - ``auto`` (the default) is ``bf16`` where the CPU has bf16 units, else ``f16``.

    ``threads`` defaults to torch's thread count (one, unless configured)."""

    name = "openvino"

    def __init__(self, precision: str = DEFAULT_PRECISION, threads: int | None = None) -> None:
        require("openvino", "openvino", "openvino")
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be >= 1 or None, got {threads}")
        self.precision = _honoured(precision)
        self.threads = threads
        self._compiled: dict[int, tuple[Any, list[str]]] = {}

    def generate(
        self, model: EngineModel, prompts: Sequence[Sequence[int]], spec: DecodeSpec
    ) -> list[Sampled]:
        if model.device.type != "cpu":
            raise ConfigError("the openvino engine runs on the CPU: build the policy with "
                              "device='cpu', or use the vllm engine on a GPU")
        llama = model.base_model
        compiled, lora_names = self._compile(llama, model.name)
        backend = OpenVINOBackend(compiled, llama, lora_names)
        return decode(backend, prompts, spec)

    def _compile(self, llama: Any, name: str) -> tuple[Any, list[str]]:
        key = id(llama)
        if key not in self._compiled:
            import openvino as ov

            from .ov_export import F16_MODEL_FILE, MODEL_FILE

            folder, info = converted_folder(llama, name)
            threads = self.threads or torch.get_num_threads()
            hint = "bf16" if self.precision == "bf16" else "f32"
            config = {"INFERENCE_PRECISION_HINT": hint,
                      "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            model = MODEL_FILE if self.precision == "f32" else F16_MODEL_FILE
            compiled = ov.Core().compile_model(str(folder / model), "CPU", config)
            self._compiled[key] = (compiled, list(info["lora"]))
        return self._compiled[key]

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "precision": self.precision}


def converted_folder(llama: Any, name: str) -> tuple[Path, dict[str, Any]]:
    """The cached OpenVINO conversion of ``llama`` (converted on first use) and its info. A
    folder that is not a complete conversion of this version (half-written, stale, edited)
    is converted again, never used."""
    from ..model_cache import cache_root, cached_folder
    from .ov_export import INFO_FILE, export, export_key, read_info

    target = cache_root() / "engines" / "openvino" / export_key(llama, name)
    for attempt in range(2):
        folder = cached_folder(target, INFO_FILE, lambda staging: export(llama, staging),
                               f"{name} for OpenVINO")
        info = read_info(folder)
        if info is not None:
            return folder, info
        if attempt == 0:
            log.warning("the OpenVINO conversion in %s is incomplete or from another version: "
                        "converting again", folder)
            _remove(folder)
    raise EngineError(f"the OpenVINO conversion in {target} fails its own check: delete the "
                      "folder and retry")


def _remove(folder: Path) -> None:
    if folder.is_symlink():
        folder.unlink()
    else:
        shutil.rmtree(folder)


def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes in bf16 natively here."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _honoured(precision: str) -> str:
    """The precision this machine runs: ``auto`` resolved, ``bf16`` without bf16 units
    replaced by ``f16`` (one warning)."""
    if precision not in ("auto", "bf16"):
        return precision
    if cpu_has_bf16():
        return "bf16"
    if precision == "bf16":
        log.warning("openvino precision bf16: this CPU has no bf16 units, so it runs f16 "
                    "(fp16 weights, fp32 arithmetic) instead")
    return "f16"


class OpenVINOBackend(Backend):
    """Two infer requests in turn: one's outputs (the cache) are the other's inputs without
    a copy, and a request only overwrites its outputs after the other has read them."""

    def __init__(self, compiled: Any, llama: Any, lora_names: list[str]) -> None:
        from .ov_export import lora_arrays, lora_modules

        if list(lora_modules(llama)) != lora_names:
            raise ConfigError("the policy's LoRA layers differ from the converted model's: "
                              "build a new OpenVINOEngine for this policy")
        self.requests = [compiled.create_infer_request() for _ in range(2)]
        self.turn = 0
        self.n_layers = len(llama.model.layers)
        attn = llama.model.layers[0].self_attn
        self.kv_shape = (llama.config.num_key_value_heads, attn.head_dim)
        import openvino as ov

        lora = lora_arrays(llama)  # shares memory with the torch adapter: always current
        first_lora = 3 + 2 * self.n_layers
        for request in self.requests:
            for index, array in enumerate(lora, start=first_lora):
                request.set_input_tensor(index, ov.Tensor(array, shared_memory=True))

    def _run(self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor,
             cache: list[np.ndarray]) -> tuple[torch.Tensor, list[np.ndarray]]:
        request = self.requests[self.turn]
        self.turn ^= 1
        inputs = [ids.numpy(), mask.numpy(), pos.numpy(), *cache]
        request.infer(dict(enumerate(inputs)), share_inputs=True)
        outputs = [request.get_output_tensor(i).data for i in range(1 + 2 * self.n_layers)]
        return torch.from_numpy(np.array(outputs[0])), outputs[1:]

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
        from .decode import position_ids

        empty = np.zeros((ids.shape[0], self.kv_shape[0], 0, self.kv_shape[1]), np.float32)
        return self._run(ids, mask, position_ids(mask), [empty] * (2 * self.n_layers))

    def select(self, cache: Any, rows: torch.Tensor) -> Any:
        index = rows.numpy()
        return [np.take(part, index, axis=0) for part in cache]

    def step(self, tokens: torch.Tensor, mask: torch.Tensor, cache: Any
             ) -> tuple[torch.Tensor, Any]:
        return self._run(tokens, mask, mask.sum(-1, keepdim=True) - 1, cache)
