"""Scoring completions for the GRPO step: every member of a group is trained as a completion
of the same canonical prompt (docs/method.md), so the prompt is forwarded once and the
completions run over its keys and values.

:func:`shared_prompt_logprobs` forwards the prompt with batch 1, expands its key/value cache
to the group and forwards only the completion tokens over it. Gradients flow through the
expanded cache into the prompt's pass, so a LoRA adapter on q and v (which changes the
prompt's keys and values) gets exactly the gradient of a full forward pass.
:func:`full_logprobs` is that full pass (prompt and completion of every row together): the
reference the equality tests and the step benchmark compare against."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError
from ..values import Member


@dataclass
class TrainBatch:
    """Members re-tokenised as completions of one prompt.

    Row ``i`` is ``members[i]`` of :func:`encode`; the completions are right-padded."""

    prompt_ids: torch.Tensor
    """[1, P] the canonical prompt's tokens, shared by every row."""
    completion_ids: torch.Tensor
    """[B, T] completion tokens, right-padded."""
    completion_mask: torch.Tensor
    """[B, T] float, 1 on completion tokens that count in the loss."""
    behaviour_logprobs: torch.Tensor
    """[B, T] log-probs recorded when the member was sampled (0 where unknown)."""
    off_prompt: torch.Tensor
    """[B] bool: the member was sampled, with recorded log-probs, from another prompt
    than this one (neighbourhood, OPRO): importance weights apply to these rows only."""

    @property
    def prompt_length(self) -> int:
        """P, the number of prompt tokens."""
        return int(self.prompt_ids.shape[1])

    @property
    def completion_length(self) -> int:
        return int(self.completion_ids.shape[1])

    @property
    def input_ids(self) -> torch.Tensor:
        """[B, P + T] prompt then completion tokens of every row."""
        rows = self.completion_ids.shape[0]
        return torch.cat([self.prompt_ids.expand(rows, -1), self.completion_ids], dim=1)

    @property
    def attention_mask(self) -> torch.Tensor:
        """[B, P + T] 1 on real tokens."""
        rows = self.completion_ids.shape[0]
        prompt = torch.ones(rows, self.prompt_length, device=self.completion_mask.device)
        return torch.cat([prompt, self.completion_mask], dim=1).long()


def encode(
    head: list[int], tails: Sequence[list[int]], members: Sequence[Member], prompt: str,
    pad: int, device: torch.device,
) -> TrainBatch:
    """The batch of ``members`` whose completion tokens are ``tails``, after prompt ``head``."""
    width = max(len(t) for t in tails)
    completion = torch.tensor([t + [pad] * (width - len(t)) for t in tails])
    completion_mask = torch.tensor([[1.0] * len(t) + [0.0] * (width - len(t)) for t in tails])
    behaviour = torch.zeros(len(members), width)
    off_prompt = torch.zeros(len(members), dtype=torch.bool)
    for i, (m, t) in enumerate(zip(members, tails, strict=True)):
        recorded = m.behaviour_logprobs
        if m.token_ids and recorded and len(recorded) == len(t):
            behaviour[i, : len(t)] = torch.tensor(recorded)
            off_prompt[i] = m.prompt is not None and m.prompt != prompt
    return TrainBatch(
        prompt_ids=torch.tensor([head], device=device),
        completion_ids=completion.to(device),
        completion_mask=completion_mask.to(device),
        behaviour_logprobs=behaviour.to(device),
        off_prompt=off_prompt.to(device),
    )


def _picked(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[target] without materialising the full log-softmax."""
    logits = logits.float()
    return logits.gather(-1, targets[..., None])[..., 0] - torch.logsumexp(logits, dim=-1)


@dataclass(frozen=True)
class PromptPass:
    """The decoder's pass over a prompt (batch 1): what the completions continue from."""

    last_hidden: torch.Tensor
    """[1, 1, H] the prompt's last hidden state (it predicts the first completion token)."""
    kv: list[tuple[torch.Tensor, torch.Tensor]]
    """Each layer's (keys, values) [1, KVH, P, hd]."""
    cache_name: str
    """The decoder's cache argument: ``cache`` in transformers 5, ``past_key_values`` before."""


def prompt_pass(model: Any, prompt_ids: torch.Tensor) -> PromptPass:
    """The prompt forwarded once (with grad when grad is enabled)."""
    decoder, _ = _decoder_and_head(model)
    head = decoder(input_ids=prompt_ids, use_cache=True)
    return PromptPass(head.last_hidden_state[:, -1:], _kv(head),
                      "cache" if "cache" in head else "past_key_values")


def shared_prompt_logprobs(model: Any, batch: TrainBatch, prompt: PromptPass | None = None,
                           distributions: list[torch.Tensor] | None = None) -> torch.Tensor:
    """[B, T] log-prob of each completion token, the prompt forwarded once (with grad).

    The decoder runs the prompt (batch 1; or ``prompt``, a pass made before), then the
    completions over its expanded cache; the LM head (a quarter of SmolLM2's compute per
    token) scores only the real, unpadded completion positions. Given ``distributions``,
    the whole next-token log-distribution at those positions ([N, V], float32, no grad) is
    appended to it, for the exact KL to the base model."""
    from transformers import DynamicCache

    decoder, lm_head = _decoder_and_head(model)
    rows, width = batch.completion_ids.shape
    head = prompt if prompt is not None else prompt_pass(model, batch.prompt_ids)
    hidden = head.last_hidden.expand(rows, -1, -1)
    if width > 1:
        # expand is a view: the group shares the prompt's keys and values, and their
        # gradient is the sum over rows, as in a full pass. The decoder's cache
        # concatenates new tensors, so a kept prompt pass is never written to.
        kv = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in head.kv]
        # The last completion token predicts nothing: it is never fed.
        with _grouped_heads(batch.completion_ids.device):
            out = decoder(input_ids=batch.completion_ids[:, :-1],
                          attention_mask=batch.attention_mask[:, :-1], use_cache=True,
                          **{head.cache_name: DynamicCache(kv)})
        hidden = torch.cat([hidden, out.last_hidden_state], dim=1)
    real = batch.completion_mask.bool()
    logits = lm_head(hidden[real])
    picked = _picked(logits, batch.completion_ids[real])
    if distributions is not None:
        distributions.append(torch.log_softmax(logits.detach().float(), dim=-1))
    # Padding scores 0 (the loss masks it), as a full pass's values there are never used.
    return torch.zeros(rows, width, dtype=picked.dtype, device=picked.device).masked_scatter(
        real, picked)


_GQA_SWITCH = "TRANSFORMERS_SDPA_FORCE_GQA"


@contextlib.contextmanager
def _grouped_heads(device: torch.device) -> Iterator[None]:
    """Attention over grouped key/value heads as they are, on the CPU.

    Given a mask, transformers copies each key/value head once per query head it serves
    (CUDA's kernels need that); torch's CPU kernel reads grouped heads directly, with the
    same values (the shared-prompt equality tests) and without the copy, a tenth of a
    SmolLM2 step. transformers' only switch is an environment variable: set for this call."""
    if device.type != "cpu" or _GQA_SWITCH in os.environ:
        yield
        return
    os.environ[_GQA_SWITCH] = "1"
    try:
        yield
    finally:
        os.environ.pop(_GQA_SWITCH, None)


def _decoder_and_head(model: Any) -> tuple[Any, Any]:
    """The transformer body and the LM head of a (peft-wrapped) causal LM. Models whose
    forward changes the logits after the head (soft-capping, scaling) are refused."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if any(getattr(config, k, None) not in (None, 1.0)
           for k in ("final_logit_softcapping", "logit_scale")):
        raise ConfigError(f"{type(base).__name__} post-processes its logits; the shared-prompt "
                          "GRPO step does not support it yet")
    return base.get_decoder(), base.get_output_embeddings()


def _kv(out: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's (keys, values) of a forward pass's cache, whichever transformers."""
    cache = out["cache"] if "cache" in out else out.past_key_values
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


def full_logprobs(model: Any, batch: TrainBatch,
                  distributions: list[torch.Tensor] | None = None) -> torch.Tensor:
    """[B, T] the same log-probs (and ``distributions``) from one full pass per row
    (prompt recomputed per row)."""
    width = batch.completion_length
    # Only the logits that predict completion tokens: the vocabulary is large.
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        logits_to_keep=width + 1,
        use_cache=False,
    )
    logits = out.logits[:, :-1]
    if distributions is not None:
        real = batch.completion_mask.bool()
        distributions.append(torch.log_softmax(logits[real].detach().float(), dim=-1))
    return _picked(logits, batch.completion_ids)
