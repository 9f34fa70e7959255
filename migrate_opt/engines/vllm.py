"""The ``vllm`` engine: vLLM on a CUDA GPU in bf16, the adapter loaded anew whenever it
changed (a new LoRA id per version, so vLLM's prefix cache never mixes versions), the
sampler's raw log-probs returned. vLLM is imported only when this engine is built."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import Engine, require, require_cuda
from .decode import DecodeSpec, Sampled
from .model import EngineModel

log = logging.getLogger(__name__)


class VLLMEngine(Engine):
    """vLLM with LoRA. ``gpu_memory_utilization`` is the share of GPU memory vLLM may take
    (the torch policy, which trains, needs the rest)."""

    name = "vllm"

    def __init__(self, dtype: str = "bfloat16", gpu_memory_utilization: float = 0.4) -> None:
        require_cuda("the vllm engine")
        require("vllm", "vllm", "vllm")
        if not 0 < gpu_memory_utilization < 1:
            raise ConfigError(
                f"gpu_memory_utilization must be in (0, 1), got {gpu_memory_utilization}"
            )
        self.dtype = dtype
        self.gpu_memory_utilization = gpu_memory_utilization
        self._llm: Any = None
        self._workdir = Path(tempfile.mkdtemp(prefix="migrate-opt-vllm-"))
        self._adapter: tuple[str, Any] | None = None  # (fingerprint, LoRARequest)
        self._versions = 0

    def generate(
        self, model: EngineModel, prompts: Sequence[Sequence[int]], spec: DecodeSpec
    ) -> list[Sampled]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if spec.processors:
            # A task grammar maps to vLLM's structured outputs here (json_schema -> json,
            # regex -> regex, ebnf -> grammar in SamplingParams.structured_outputs); torch
            # logits processors cannot run inside vLLM's sampler.
            raise ConfigError("the vllm engine does not take logits processors yet: use the "
                              "hf engine for grammar-constrained answers")
        llm = self._engine(model)
        params = SamplingParams(
            temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_new_tokens,
            seed=spec.seed, stop_token_ids=list(spec.eos_ids), stop=list(spec.stop) or None,
            include_stop_str_in_output=True, logprobs=0,
        )
        requests = [TokensPrompt(prompt_token_ids=list(p)) for p in prompts]
        outputs = llm.generate(requests, params, lora_request=self._lora(model),
                               use_tqdm=False)
        return [_sampled(o.outputs[0]) for o in outputs]

    def _engine(self, model: EngineModel) -> Any:
        if self._llm is None:
            from vllm import LLM

            base = self._workdir / "base"
            model.save_base(base)
            self._llm = LLM(
                model=str(base), dtype=self.dtype, enable_lora=True,
                max_lora_rank=model.lora.rank, max_loras=1,
                gpu_memory_utilization=self.gpu_memory_utilization,
                max_model_len=model.context_length, logprobs_mode="raw_logprobs",
            )
        return self._llm

    def _lora(self, model: EngineModel) -> Any:
        """The current adapter as a LoRARequest: saved and given a new id when it changed."""
        from vllm.lora.request import LoRARequest

        fingerprint = adapter_fingerprint(model)
        if self._adapter is None or self._adapter[0] != fingerprint:
            self._versions += 1
            folder = self._workdir / f"adapter-{self._versions}"
            model.save_adapter(folder)
            request = LoRARequest(f"v{self._versions}", self._versions, str(folder))
            self._adapter = (fingerprint, request)
        return self._adapter[1]

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "dtype": self.dtype}


def adapter_fingerprint(model: EngineModel) -> str:
    """A digest of the adapter's weights: a new one means a new adapter version."""
    digest = hashlib.sha1()
    for key, tensor in sorted(model.adapter_state().items()):
        digest.update(key.encode() + tensor.float().numpy().tobytes())
    return digest.hexdigest()


def _sampled(completion: Any) -> Sampled:
    tokens = list(completion.token_ids)
    steps = completion.logprobs or []
    logprobs = [float(step[tok].logprob) for tok, step in zip(tokens, steps)]
    return Sampled(tokens, logprobs if len(logprobs) == len(tokens) else [])
