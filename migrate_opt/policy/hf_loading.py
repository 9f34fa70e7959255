"""Loading a Hugging Face causal LM for HFPolicy: offline only, with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """A torch floating dtype from its name (float32 when None)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ConfigError(f"dtype must be a torch floating dtype name, got {dtype!r}")
    return resolved


def load_pretrained(path: str, dtype: torch.dtype) -> tuple[Any, Any]:
    """Model and tokenizer from a local folder or the local Hugging Face cache (offline)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(path).expanduser()
    source = str(local) if local.exists() else path
    if not local.exists() and (path.startswith((".", "~", "/")) or path.count("/") > 1):
        raise ConfigError(f"no model folder at {path!r}: give an existing folder with a "
                          "causal LM and its tokenizer, or a registered model name")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load model {path!r} offline: give a local folder with a causal LM and its "
            f"tokenizer, or a Hugging Face id already in the local cache "
            f"({_first_line(exc)})"
        ) from exc
    return model, tokenizer


def _first_line(exc: BaseException) -> str:
    """Hugging Face errors run to several lines; the first one says what went wrong."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def eos_ids(model: Any, tokenizer: Any) -> tuple[int, ...]:
    """Every token that ends a completion: the generation config may list several."""
    ids: list[int] = []
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.append(configured)
    elif configured:
        ids.extend(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    if not ids:
        raise ConfigError("the tokenizer has no EOS token: completions could never stop")
    return tuple(dict.fromkeys(ids))
