"""A tiny random Llama with a tokenizer trained in memory: offline, seeded, built in
milliseconds. For smoke runs (alias ``tiny-random``) and tests; it writes gibberish."""

from __future__ import annotations

from typing import Any

import torch

from .hf import HFPolicy, LoRAConfig

ALIAS = "tiny-random"

SPECIAL_TOKENS = ("<pad>", "<eos>", "<|system|>", "<|user|>", "<|assistant|>")

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<eos>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

_WORDS = (
    "the a an of to and in is it that for on with as by at from this be are was word words "
    "guess answer score best new list give propose only one two three four five six seven "
    "eight nine ten cat dog tree house water fire stone metal computer machine city river "
    "music light dark green blue red small large good bad high low find similar variation "
    "molecule program grid return def transform true false null name value solution"
).split()

_PUNCTUATION = "{ } [ ] : , \" . ( ) - _ = + * / # ' ? !".split()


def _corpus() -> list[str]:
    """English words, digits and JSON punctuation, in the combinations answers use."""
    lines = [" ".join(_WORDS), " ".join(_PUNCTUATION), " ".join(str(i) for i in range(200))]
    lines += [f'["{a}", "{b}"]' for a, b in zip(_WORDS, _WORDS[1:], strict=False)]
    lines += [f'{{"{w}": {i}.{i % 7}}}' for i, w in enumerate(_WORDS)]
    return lines


def build_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE (any text round-trips; no unknown token) with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(
    vocab_size: int, *, hidden: int = 64, layers: int = 2, seed: int = 0, init_std: float = 0.3
) -> Any:
    """A random Llama; ``seed`` fixes its weights without touching the global RNG.

    ``init_std`` is far above the usual 0.02 on purpose: at 0.02 the output distribution is
    near-uniform and LoRA updates barely move it, while at 0.3 it is peaked like a trained
    model's and a few GRPO steps visibly shift it (what tests and smoke runs need)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=1,
        pad_token_id=0,
        initializer_range=init_std,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def tiny_policy(
    *, seed: int = 0, lora: LoRAConfig | None = None, hidden: int = 64, layers: int = 2, **kw: Any
) -> HFPolicy:
    """The tiny random policy. LoRA defaults to rank 8: rank 64 would exceed the width. It
    trains in float32 unless told (bf16 pays for large products, not for 64-wide ones)."""
    kw.setdefault("train_precision", "float32")
    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer), hidden=hidden, layers=layers, seed=seed)
    # peft initialises the adapter's A matrices randomly: seed them too.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return HFPolicy(
            model, tokenizer, lora=lora or LoRAConfig(rank=8, alpha=16), name=ALIAS, **kw
        )
