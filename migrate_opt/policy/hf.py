"""A transformers causal LM with a peft LoRA adapter: the trainable policy of MiGrATe.

Generation goes through an engine (``migrate_opt.engines``), which records the behaviour
log-prob of every sampled token from the logits it already computed (no second pass).
Training goes through :meth:`HFPolicy.encode` and :meth:`HFPolicy.token_logprobs`, which
the GRPO updater calls."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from ..configs import config_from
from ..engines import Engine, require_cuda
from ..engines.decode import DecodeSpec
from ..engines.model import EngineModel
from ..errors import ConfigError
from ..task.prompt_spec import PromptSpec
from ..values import Member
from . import hf_train
from .base import Generation, Policy, SamplingConfig, check_request
from .bf16_base import BF16Base, resolve_train_precision
from .constrained import GrammarConstraints
from .hf_generate import completion, fit_context, stop_checker, with_usage
from .hf_loading import eos_ids, load_pretrained, resolve_dtype
from .hf_train import TrainBatch
from .lora import LoRAConfig

log = logging.getLogger(__name__)

DEFAULT_SAMPLING = SamplingConfig()


class HFPolicy(Policy):
    """A causal LM (transformers) with a trainable LoRA adapter (peft).

    ``model`` is a Hugging Face id in the local cache, a local folder, or an already built
    ``PreTrainedModel`` (then pass its ``tokenizer``). The base weights are frozen; only the
    adapter trains, and :meth:`state_dict` holds only the adapter. ``engine`` samples the
    completions (an Engine object; None: ``HFEngine``; ``migrate_opt.create_engine`` builds
    one by name): whichever it is, training scores the sampled tokens with this torch model.
    ``train_precision`` ``auto`` runs the GRPO step's frozen base in bf16 on a CPU with
    native bf16 units, the adapter and optimizer in float32 (:mod:`.bf16_base`); ``float32``
    keeps it all fp32."""

    trainable = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        lora: LoRAConfig | Mapping[str, Any] | None = None,
        device: str = "cpu",
        dtype: str | torch.dtype | None = None,
        threads: int | None = 1,
        name: str | None = None,
        engine: Engine | None = None,
        train_precision: str = "auto",
    ) -> None:
        if threads is not None:
            if threads < 1:
                raise ConfigError(f"threads must be >= 1 or None, got {threads}")
            # Two busy cores ran 5-30x slower with two torch threads than with one.
            torch.set_num_threads(threads)
        self.lora = config_from(LoRAConfig, lora, "lora") or LoRAConfig()
        if str(device).startswith("cuda"):
            require_cuda(f"device {device!r}")
        self.device = torch.device(device)
        self.dtype = resolve_dtype(dtype)
        if isinstance(model, (str, Path)):
            name = name or str(model)
            model, tokenizer = load_pretrained(str(model), self.dtype)
        elif tokenizer is None:
            raise ConfigError("pass the tokenizer together with an already built model")
        self.name = name or getattr(model.config, "_name_or_path", "") or type(model).__name__
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_ids = eos_ids(model, tokenizer)
        self.model = self._wrap(model.to(device=self.device, dtype=self.dtype))
        self.model.eval()  # generation and scoring both run without dropout in the base
        self.context_length: int | None = getattr(model.config, "max_position_embeddings", None)
        if engine is None:
            from ..engines.hf import HFEngine

            engine = HFEngine()
        if not isinstance(engine, Engine):
            raise ConfigError(f"engine must be an Engine object, got {engine!r}: "
                              "migrate_opt.create_engine(name) builds one by name")
        self.engine = engine
        self.train_precision = resolve_train_precision(train_precision, self.device, self.dtype)
        """``bfloat16``: the GRPO step runs the frozen base's matrix products in bf16
        (:mod:`.bf16_base`); ``float32``: all in the model's dtype."""
        self._bf16_base = BF16Base(self.model) if self.train_precision == "bfloat16" else None
        self._in_reference = False
        self._reference_kept: tuple[tuple[int, ...], hf_train.PromptPass] | None = None

    def _wrap(self, model: Any) -> Any:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=self.lora.rank,
            lora_alpha=self.lora.alpha,
            lora_dropout=self.lora.dropout,
            target_modules=list(self.lora.target_modules),
            task_type="CAUSAL_LM",
        )
        try:
            with warnings.catch_warnings():
                # peft calls a transformers API deprecated in v5; nothing for users to do.
                warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
                return get_peft_model(model, config)
        except ValueError as exc:
            raise ConfigError(f"cannot attach LoRA to {self.name}: {exc}") from exc

    # -- prompts -------------------------------------------------------------------------
    def render_prompt(
        self, prompt: str, system: str | None = None, response_prefix: str = ""
    ) -> str:
        """The text the model sees: the chat template when the tokenizer has one, then the
        opening of the answer."""
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": prompt}]
            if system:
                messages.insert(0, {"role": "system", "content": system})
            text = str(
                self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            )
        else:
            text = f"{system}\n\n{prompt}" if system else prompt
        return text + response_prefix

    def prompt_ids(
        self, prompt: str, system: str | None = None, response_prefix: str = ""
    ) -> list[int]:
        text = self.render_prompt(prompt, system, response_prefix)
        # A chat template writes its own special tokens; plain text gets the tokenizer's.
        plain = not getattr(self.tokenizer, "chat_template", None)
        return list(self.tokenizer(text, add_special_tokens=plain)["input_ids"])

    # -- generation ----------------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[str],
        spec: PromptSpec | None = None,
        *,
        sampling: SamplingConfig = DEFAULT_SAMPLING,
        seed: int = 0,
    ) -> list[Generation]:
        """One completion per prompt, sampled by the engine under the current adapter.

        ``Generation.logprobs`` are log-probs of the model's own (temperature 1, untruncated)
        distribution, the quantity :meth:`token_logprobs` computes: with the default
        sampling (temperature 1, top_p 1) they are exactly the behaviour probabilities.
        Under a ``grammar`` they stay the *unconstrained* model's log-probs (the mask is not
        renormalised into them), so training and importance weights compare like with like."""
        spec = check_request(prompts, spec, sampling)
        if not prompts:
            return []
        ids = [self.prompt_ids(p, spec.system, spec.response_prefix) for p in prompts]
        ids = fit_context(ids, self.context_length, spec.max_new_tokens)
        decoding = self._decode_spec(sampling, spec, seed)
        if spec.grammar is not None:
            processor = self.grammar_constraints.processor(spec.grammar, spec.response_prefix,
                                                           len(ids))
            decoding = replace(decoding, processors=(*decoding.processors, processor))
        sampled = self.engine.generate(self.engine_model, ids, decoding)
        return with_usage(ids, [completion(self.tokenizer, self.eos_ids, s,
                                           spec.response_prefix, spec.stop) for s in sampled])

    def _decode_spec(self, sampling: SamplingConfig, spec: PromptSpec, seed: int) -> DecodeSpec:
        return DecodeSpec(
            max_new_tokens=spec.max_new_tokens, eos_ids=self.eos_ids,
            pad_id=self.tokenizer.pad_token_id, temperature=sampling.temperature,
            top_p=sampling.top_p, seed=seed, stop=spec.stop,
            stopped=stop_checker(self.tokenizer, spec.stop),
        )

    @cached_property
    def engine_model(self) -> EngineModel:
        """What the engine samples from: built once (none of it is ever replaced; the
        adapter's weights inside ``model`` change in place with every GRPO step)."""
        return EngineModel(name=self.name, model=self.model, tokenizer=self.tokenizer,
                           device=self.device, lora=self.lora,
                           context_length=self.context_length, eos_ids=self.eos_ids)

    @cached_property
    def grammar_constraints(self) -> GrammarConstraints:
        """Builds the grammar processors (the tokenizer's llguidance view is made once)."""
        return GrammarConstraints(
            self.tokenizer, int(self.model.config.vocab_size), self.eos_ids,
            threads=torch.get_num_threads(),
        )  # fmt: skip

    # -- training ------------------------------------------------------------------------
    def completion_ids(self, member: Member, response_prefix: str = "") -> list[int]:
        """The tokens a member is trained on: the ones it was sampled as when it has them
        (the sampled tokens do not depend on the prompt, and importance weights need them),
        else its completion text after the response prefix re-tokenised, plus EOS."""
        if member.token_ids:
            return list(member.token_ids)
        text = member.completion
        if response_prefix and text.startswith(response_prefix):
            text = text[len(response_prefix) :]
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [*ids, self.eos_ids[0]]

    def encode(
        self, prompt: str, system: str | None, members: Sequence[Member], response_prefix: str = ""
    ) -> TrainBatch:
        """Every member as a completion of the canonical ``prompt`` (docs/method.md)."""
        if not members:
            raise ValueError("encode needs at least one member")
        head = self.prompt_ids(prompt, system, response_prefix)
        tails = [self.completion_ids(m, response_prefix) for m in members]
        return hf_train.encode(head, tails, members, prompt, self.tokenizer.pad_token_id,
                               self.device)

    def token_logprobs(self, batch: TrainBatch,
                       distributions: list[torch.Tensor] | None = None) -> torch.Tensor:
        """[B, T] log-prob of each completion token under the current policy, with grad;
        the shared prompt is forwarded once (:mod:`.hf_train`). Given ``distributions``,
        the next-token log-distribution at every completion token is appended to it."""
        precision = (contextlib.nullcontext() if self._bf16_base is None
                     else self._bf16_base.active())
        with precision:
            prompt = self._reference_prompt(batch) if self._in_reference else None
            return hf_train.shared_prompt_logprobs(self.model, batch, prompt, distributions)

    def _reference_prompt(self, batch: TrainBatch) -> hf_train.PromptPass | None:
        """The base model's pass over the batch's prompt, kept: the base never changes, and
        the canonical prompt rarely does, so the reference pass of a GRPO step costs only
        its completions (about 7% of a Semantle iteration). None when grad is on."""
        if torch.is_grad_enabled():
            return None
        key = tuple(batch.prompt_ids[0].tolist())
        if self._reference_kept is None or self._reference_kept[0] != key:
            self._reference_kept = (key, hf_train.prompt_pass(self.model, batch.prompt_ids))
        return self._reference_kept[1]

    @contextlib.contextmanager
    def reference(self) -> Iterator[None]:
        """The base model without the adapter: the KL reference."""
        with self.model.disable_adapter():
            self._in_reference = True
            try:
                yield
            finally:
                self._in_reference = False

    @property
    def hidden_size(self) -> int | None:
        """The model's hidden size (the default learning rate depends on it)."""
        size = getattr(self.model.config, "hidden_size", None)
        return size if isinstance(size, int) else None

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The adapter weights only (a few MB), detached copies on the CPU."""
        return self.engine_model.adapter_state()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        from peft import set_peft_model_state_dict

        expected = set(self.state_dict())
        if set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ConfigError(
                f"adapter state does not fit this policy (missing {missing[:3]}, "
                f"unexpected {extra[:3]}): was it saved with another LoRAConfig or model?"
            )
        set_peft_model_state_dict(self.model, {k: torch.as_tensor(v) for k, v in state.items()})

    def describe(self) -> dict[str, Any]:
        return {
            "policy": "hf",
            "model": self.name,
            "lora": {**asdict(self.lora), "target_modules": list(self.lora.target_modules)},
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "trainable_parameters": sum(p.numel() for p in self.trainable_parameters()),
        }
