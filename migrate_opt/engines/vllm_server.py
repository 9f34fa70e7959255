"""The ``vllm-server`` engine: MiGrATe's training presets with sampling on a vLLM server
over HTTP, the trainer (torch + peft) on the local device.

After every GRPO step the adapter changes; before the next sampling this engine saves it
to ``adapter_dir`` (a folder the server can read), loads it under a new name
(``POST /v1/load_lora_adapter``), unloads the previous one and samples from the new name
with ``logprobs`` for the off-policy correction. Prompts go as token ids and tokens come
back as ids (``return_tokens_as_token_ids``), so training re-scores exactly what was
sampled. The server must run with LoRA enabled, runtime updates allowed and raw
log-probs::

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve MODEL --enable-lora \\
        --max-lora-rank 64 --logprobs-mode raw_logprobs

Nothing here imports vLLM: the server may run anywhere the adapter folder is visible."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, EndpointError
from . import Engine
from .decode import DecodeSpec, Sampled
from .model import EngineModel
from .openai_http import Connection, OpenAIClient, choices_of

log = logging.getLogger(__name__)


class VLLMServerEngine(Engine):
    """Samples the local policy's current adapter on a vLLM server. ``model`` is the base
    model's name on the server (default: the policy's name); ``adapter_dir`` a folder both
    sides see (default: a temporary folder, right when the server runs on this machine)."""

    name = "vllm-server"

    def __init__(self, base_url: str | None = None, model: str | None = None,
                 adapter_dir: str | None = None, api_key_env: str | None = None,
                 timeout: float = 120.0, retries: int = 3,
                 client: OpenAIClient | None = None) -> None:
        if base_url is None:
            raise ConfigError("the vllm-server engine needs the server's URL: --endpoint URL "
                              "(Python: base_url=...)")
        self.connection = Connection(base_url, api_key_env, timeout=timeout, retries=retries)
        self.client = client or OpenAIClient(self.connection)
        self.model = model
        self.adapter_dir = Path(adapter_dir or tempfile.mkdtemp(prefix="migrate-opt-lora-"))
        self._loaded: tuple[str, str] | None = None  # (fingerprint, adapter name)
        self._versions = 0
        self.load_seconds: list[float] = []
        """Seconds each adapter swap (save, load, unload) took: the round trip measured."""

    def generate(self, model: EngineModel, prompts: Sequence[Sequence[int]], spec: DecodeSpec
                 ) -> list[Sampled]:
        if spec.processors:
            raise ConfigError("the vllm-server engine does not take logits processors: use "
                              "the hf engine for grammar-constrained answers")
        name = self._adapter(model)
        distinct = list(dict.fromkeys(tuple(p) for p in prompts))
        counts = [sum(1 for p in prompts if tuple(p) == d) for d in distinct]
        per_prompt: dict[tuple[int, ...], list[Sampled]] = {}
        for i, (row, count) in enumerate(zip(distinct, counts)):
            body = {
                "model": name, "prompt": list(row), "n": count, "seed": spec.seed + i,
                "max_tokens": spec.max_new_tokens, "temperature": spec.temperature,
                "top_p": spec.top_p, "logprobs": 0, "return_tokens_as_token_ids": True,
                "stop_token_ids": list(spec.eos_ids), "stop": list(spec.stop) or None,
                "include_stop_str_in_output": True, "skip_special_tokens": False,
            }
            choices = choices_of(self.client.post("/completions", body),
                                 self.connection.base_url + "/completions")
            if len(choices) != count:
                raise EndpointError(f"the vLLM server returned {len(choices)} of {count} "
                                    "samples: is it vLLM (other servers ignore n)?")
            ordered = sorted(choices, key=lambda c: int(c.get("index", 0)))
            per_prompt[row] = [sampled_of(c) for c in ordered]
        queues = {row: iter(samples) for row, samples in per_prompt.items()}
        return [next(queues[tuple(p)]) for p in prompts]

    def _adapter(self, model: EngineModel) -> str:
        """The server-side name of the model's adapter as it is now: saved and loaded under
        a new name when it changed since the last call, the previous one unloaded."""
        from .vllm import adapter_fingerprint

        fingerprint = adapter_fingerprint(model)
        if self._loaded is not None and self._loaded[0] == fingerprint:
            return self._loaded[1]
        start = time.perf_counter()
        self._versions += 1
        name = f"migrate-opt-v{self._versions}"
        folder = self.adapter_dir / name
        model.save_adapter(folder)
        self.client.post("/load_lora_adapter", {"lora_name": name, "lora_path": str(folder)})
        if self._loaded is not None:
            self.client.post("/unload_lora_adapter", {"lora_name": self._loaded[1]})
        self._loaded = (fingerprint, name)
        self.load_seconds.append(time.perf_counter() - start)
        return name

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name}


def sampled_of(choice: Mapping[str, Any]) -> Sampled:
    """Token ids and behaviour log-probs of one vLLM completion choice (tokens come as
    ``token_id:N`` with ``return_tokens_as_token_ids``)."""
    logprobs = choice.get("logprobs") or {}
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    try:
        ids = [int(str(t).rsplit(":", 1)[1]) for t in tokens]
    except (IndexError, ValueError):
        raise EndpointError("the server returned tokens as text, not ids: it must be vLLM "
                            "(return_tokens_as_token_ids)") from None
    lps = [float(v) for v in values] if len(values) == len(ids) else []
    return Sampled(ids, lps)
