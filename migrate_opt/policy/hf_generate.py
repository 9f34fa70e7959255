"""What HFPolicy does around an engine's sampling: fit prompts into the context, build the
decode spec, and turn sampled tokens into completions (EOS kept, stop strings honoured)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..engines.decode import Sampled
from ..errors import ConfigError
from .base import Generation

log = logging.getLogger(__name__)


def fit_context(ids: list[list[int]], context: int | None, max_new: int) -> list[list[int]]:
    """Prompts that leave room for ``max_new`` tokens: longer ones lose their start (with a
    warning); a context that cannot hold ``max_new`` tokens at all is an error."""
    if context is None:
        return ids
    room = context - max_new
    if room < 1:
        raise ConfigError(
            f"max_new_tokens={max_new} leaves no room for a prompt in this model's context of "
            f"{context} tokens: lower max_new_tokens"
        )
    longest = max(len(row) for row in ids)
    if longest > room:
        log.warning(
            "a prompt of %d tokens does not fit the model's context (%d tokens, %d kept for the "
            "answer): its first %d tokens are cut", longest, context, max_new, longest - room,
        )
    return [row[-room:] if len(row) > room else row for row in ids]


def stop_checker(tokenizer: Any, stop: Sequence[str]) -> Callable[[list[int]], bool] | None:
    """Whether sampled tokens already complete one of the ``stop`` strings."""
    if not stop:
        return None

    def stopped(token_ids: list[int]) -> bool:
        text = tokenizer.decode(token_ids, skip_special_tokens=True)
        return any(s in text for s in stop)

    return stopped


def completion(
    tokenizer: Any, eos_ids: Sequence[int], sampled: Sampled, prefix: str, stop: Sequence[str]
) -> Generation:
    """The Generation of one member: tokens up to EOS (kept: training must learn to stop
    too) or the end of the first stop string, decoded after the response prefix."""
    token_ids = list(sampled.token_ids)
    end = len(token_ids)
    for i, tok in enumerate(token_ids):
        if tok in eos_ids:
            end = i + 1
            break
    checker = stop_checker(tokenizer, stop)
    if checker is not None:
        end = _stop_end(token_ids[:end], checker)
    token_ids = token_ids[:end]
    text = tokenizer.decode(token_ids, skip_special_tokens=True)
    return Generation(prefix + text, tuple(token_ids), tuple(sampled.logprobs[:end]))


def _stop_end(token_ids: list[int], stopped: Callable[[list[int]], bool]) -> int:
    """Tokens up to the first one that completes a stop string (an engine may run past it);
    binary search, as containment only grows with length."""
    if not stopped(token_ids):
        return len(token_ids)
    lo, hi = 1, len(token_ids)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if stopped(token_ids[:mid]) else (mid + 1, hi)
    return lo


def with_usage(ids: list[list[int]], generations: list[Generation]) -> list[Generation]:
    """Token usage as an endpoint would report it: each distinct prompt is prefilled once,
    so the first member sampled from it carries its tokens; every member its own."""
    seen: set[tuple[int, ...]] = set()
    out = []
    for row, g in zip(ids, generations):
        key = tuple(row)
        prompt_tokens = 0 if key in seen else len(row)
        seen.add(key)
        out.append(replace(g, usage={"prompt_tokens": prompt_tokens,
                                     "completion_tokens": len(g.token_ids)}))
    return out
