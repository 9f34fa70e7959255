"""Grammar-constrained sampling for the torch policy: Hugging Face-style logits processors
(``processor(input_ids, scores) -> scores``) that leave only the tokens a
:class:`~migrate_opt.task.grammar.Grammar` allows next, computed by llguidance.

One :class:`GrammarLogitsProcessor` serves one batch of a ``generate`` call: a matcher per
row, started after the response prefix (forced: it is part of the prompt), advanced by the
token each row sampled at the previous step. Masking changes what is *sampled*, not what
is *recorded*: behaviour log-probs stay those of the unconstrained model (see
:meth:`HFPolicy.generate <migrate_opt.policy.hf.HFPolicy.generate>` and
``docs/method.md``), the quantity training scores."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ConfigError
from ..task.grammar import Grammar

log = logging.getLogger(__name__)


class GrammarConstraints:
    """Builds grammar processors for one tokenizer. Wrapping the tokenizer for llguidance
    takes ~0.5 s for SmolLM2's vocabulary, so a policy keeps one of these."""

    def __init__(
        self, tokenizer: Any, vocab_size: int, eos_ids: Sequence[int], threads: int = 1
    ) -> None:
        from llguidance import LLExecutor
        from llguidance.hf import from_tokenizer

        try:
            self.ll_tokenizer = from_tokenizer(
                tokenizer, n_vocab=vocab_size, eos_token=list(eos_ids)
            )
        except ValueError as exc:  # llguidance reads only fast (Rust) tokenizers
            raise ConfigError(f"grammars need a fast tokenizer: {exc}") from exc
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.executor = LLExecutor(num_threads=max(threads, 1))

    def processor(
        self, grammar: Grammar, response_prefix: str, rows: int
    ) -> GrammarLogitsProcessor:
        """A processor for a batch of ``rows`` completions, each opened by the prefix."""
        from llguidance import LLMatcher

        grammar.check_prefix(response_prefix)
        first = LLMatcher(self.ll_tokenizer, grammar.require_compiled(), log_level=0)
        prefix_ids = self.tokenizer(response_prefix, add_special_tokens=False)["input_ids"]
        if prefix_ids and not first.consume_tokens(list(prefix_ids)):
            raise ConfigError(
                f"the answer grammar rejects the tokens of the response prefix "
                f"{response_prefix!r}: {first.get_error()}"
            )
        matchers = [first] + [first.deep_copy() for _ in range(rows - 1)]
        return GrammarLogitsProcessor(matchers, self.vocab_size, self.executor)


class GrammarLogitsProcessor:
    """Masks, row by row, every token the row's grammar state does not allow.

    The first call marks where sampling starts (``input_ids`` is the prompt so far); each
    later call first feeds every row the tokens appended since. Once a row's answer is
    complete only an end token is allowed. A row whose matcher rejects a token (the row
    had already finished and is being padded) is released: its scores pass unchanged,
    since an all ``-inf`` row would break sampling and its tokens are discarded anyway."""

    def __init__(self, matchers: list[Any], vocab_size: int, executor: Any) -> None:
        self.matchers = matchers
        self.vocab_size = vocab_size
        self.executor = executor
        self.words = (vocab_size + 31) // 32
        self.bitmask = torch.zeros(len(matchers), self.words, dtype=torch.int32)
        self.consumed = [0] * len(matchers)
        self.released = [False] * len(matchers)
        self._start: int | None = None
        self._bits = torch.arange(32, dtype=torch.int32)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[0] != len(self.matchers):
            raise ValueError(f"built for {len(self.matchers)} rows, got {input_ids.shape[0]}")
        if self._start is None:
            self._start = int(input_ids.shape[1])
        else:
            self._advance(input_ids[:, self._start :].tolist())
        live = [i for i, m in enumerate(self.matchers) if not self.released[i]]
        if not live:
            return scores
        self.executor.unsafe_compute_mask_ptr(
            [(self.matchers[i], i) for i in live],
            self.bitmask.data_ptr(), self.words * 4, len(self.matchers),
        )  # fmt: skip
        allowed = self.allowed(live, scores.shape[-1]).to(scores.device)
        masked = scores.clone()
        masked[live] = scores[live].masked_fill(~allowed, float("-inf"))
        return masked

    def allowed(self, rows: Sequence[int], width: int) -> torch.Tensor:
        """[len(rows), width] bool from the packed mask: bit j of word w allows token
        32w + j; ids past the vocabulary the mask was built for never are."""
        packed = self.bitmask[list(rows)]
        bits = ((packed[:, :, None] >> self._bits) & 1).reshape(len(rows), -1).bool()
        bits = bits[:, : min(width, self.vocab_size)]
        if bits.shape[1] < width:
            bits = torch.cat([bits, bits.new_zeros(len(rows), width - bits.shape[1])], dim=1)
        return bits

    def _advance(self, sampled: list[list[int]]) -> None:
        for i, row in enumerate(sampled):
            new = row[self.consumed[i] :]
            self.consumed[i] = len(row)
            if self.released[i] or not new:
                continue
            matcher = self.matchers[i]
            if not matcher.consume_tokens(new):
                self.released[i] = True
                log.debug("grammar row %d released: %s", i, matcher.get_error())
