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

            from .ov_export import F16_MODEL_FILE, MODEL_FILE, make_stateful

            folder, info = converted_folder(llama, name)
            threads = self.threads or torch.get_num_threads()
            hint = "bf16" if self.precision == "bf16" else "f32"
            # The cache in the precision of the arithmetic (the plugin's default would
            # quantise it to 8 bits, further from the torch model that trains).
            config = {"INFERENCE_PRECISION_HINT": hint, "KV_CACHE_PRECISION": hint,
                      "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            core = ov.Core()
            model = core.read_model(str(folder / (MODEL_FILE if self.precision == "f32"
                                                  else F16_MODEL_FILE)))
            compiled = core.compile_model(make_stateful(model, llama),
                                          "CPU", config)
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
    """One infer request of the stateful model: the cache lives in its state, so a "cache"
    here is only the rows the next call continues (``beam_idx``)."""

    def __init__(self, compiled: Any, llama: Any, lora_names: list[str]) -> None:
        import openvino as ov

        from .ov_export import lora_arrays, lora_modules

        if list(lora_modules(llama)) != lora_names:
            raise ConfigError("the policy's LoRA layers differ from the converted model's: "
                              "build a new OpenVINOEngine for this policy")
        self.request = compiled.create_infer_request()
        names = [port.get_any_name() for port in compiled.inputs]
        self.beam_port = names.index("beam_idx")
        # Shares memory with the torch adapter: every call reads it as it is now.
        for index, array in enumerate(lora_arrays(llama), start=3):
            self.request.set_input_tensor(index, ov.Tensor(array, shared_memory=True))

    def _run(self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor,
             rows: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        self.request.infer({0: ids.numpy(), 1: mask.numpy(), 2: pos.numpy(),
                            self.beam_port: rows}, share_inputs=True)
        logits = torch.from_numpy(np.array(self.request.get_output_tensor(0).data))
        return logits, np.arange(ids.shape[0], dtype=np.int32)

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
        from .decode import position_ids

        self.request.reset_state()
        return self._run(ids, mask, position_ids(mask), np.arange(ids.shape[0], dtype=np.int32))

    def select(self, cache: Any, rows: torch.Tensor) -> Any:
        return cache[rows.numpy()]

    def step(self, tokens: torch.Tensor, mask: torch.Tensor, cache: Any
             ) -> tuple[torch.Tensor, Any]:
        return self._run(tokens, mask, mask.sum(-1, keepdim=True) - 1, cache)
