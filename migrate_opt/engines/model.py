"""What an engine samples from: the policy's model and what goes with it, as one frozen
value the policy builds once (``HFPolicy.engine_model``). Engines read this, never the
policy, so an engine needs no knowledge of ``HFPolicy``'s insides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class LoRAShape(Protocol):
    """What engines read of the adapter's settings (``LoRAConfig`` has it; engines sit
    below ``policy/`` and do not import it)."""

    @property
    def rank(self) -> int: ...


@dataclass(frozen=True, eq=False)  # eq=False: two handles on one model are not "equal"
class EngineModel:
    """A causal LM wrapped with a peft LoRA adapter, and its tokenizer and limits. The
    fields never change; the adapter's weights inside ``model`` do, with every GRPO step,
    and an engine samples from them as they are at each call."""

    name: str
    """The model's name (a Hugging Face id or folder): keys caches such as conversions."""
    model: Any
    """The peft-wrapped torch model; its adapter is live."""
    tokenizer: Any
    device: torch.device
    lora: LoRAShape
    """The adapter's settings (the policy's ``LoRAConfig``)."""
    context_length: int | None
    """Prompt plus completion tokens the model takes; None when it does not say."""
    eos_ids: tuple[int, ...]
    """Tokens that end a completion."""

    @property
    def base_model(self) -> Any:
        """The unwrapped transformers model (a Llama for the built-in policies). It still
        holds the adapter's layers: peft injects them in place."""
        return self.model.get_base_model()

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The adapter's weights as they are now: detached copies on the CPU."""
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.model)
        return {k: v.detach().cpu().clone() for k, v in state.items()}

    def save_adapter(self, folder: str | Path) -> None:
        """The current adapter as a peft folder (what vLLM loads as a LoRA)."""
        self.model.save_pretrained(folder)

    def save_base(self, folder: str | Path) -> None:
        """:attr:`base_model` and the tokenizer as a transformers folder (what vLLM loads)."""
        self.base_model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
