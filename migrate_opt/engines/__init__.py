"""Generation engines: what samples a policy's completions. ``hf`` (torch, the default and
the reference), ``openvino`` (fast CPU inference, the ``openvino`` extra) and ``vllm`` (CUDA
GPUs, the ``vllm`` extra); plugins add more through the ``register_engines`` hook.

An engine receives an :class:`~.model.EngineModel` (the policy's model, tokenizer and
limits, built once by the policy), samples from its *current* adapter on every call, and
returns token ids (training re-scores them in torch) and behaviour log-probs where it has
them. Nothing here imports torch, OpenVINO or vLLM: each engine imports its library when it
is built."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import EngineError
from .model import EngineModel

if TYPE_CHECKING:
    from .decode import DecodeSpec, Sampled

DEFAULT_ENGINE = "hf"


class Engine(ABC):
    """Samples continuations of tokenised prompts from an :class:`EngineModel` (the
    ``HFPolicy`` builds one: ``policy.engine_model``)."""

    name: str = ""

    @abstractmethod
    def generate(
        self, model: EngineModel, prompts: Sequence[Sequence[int]], spec: DecodeSpec
    ) -> list[Sampled]:
        """One continuation per prompt, sampled under ``model``'s adapter as it is now."""

    def describe(self) -> dict[str, Any]:
        """JSON-able settings (not stored with a study: engines may change on resume)."""
        return {"engine": self.name}


def fastest_engine() -> str:
    """The fastest engine that runs on this machine as installed: ``openvino`` when the
    extra is installed (3-5x faster than ``hf`` on CPUs), else ``hf``. ``vllm`` is never
    picked for you: it needs a GPU and takes GPU memory from training."""
    return "openvino" if importlib.util.find_spec("openvino") is not None else DEFAULT_ENGINE


FAST_BY_DEFAULT = ("hf", "smollm2-135m-instruct")
"""Registered policies that the front doors (CLI, demo, harness) give the fastest engine
when none was chosen (``migrate_opt.factory.with_fastest_engine``); any other name is a
plugin's, left to its own default."""


def require(module: str, engine: str, extra: str) -> None:
    """Fail with the install command when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise EngineError(
            f"the {engine} engine needs the {module} package: pip install 'migrate-opt[{extra}]'"
        )


def require_cuda(what: str) -> None:
    """Fail in one line when torch sees no CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        raise EngineError(
            f"{what} needs a CUDA GPU and torch sees none here: use the hf or openvino engine "
            "on this machine (device cpu)"
        )


__all__ = ["DEFAULT_ENGINE", "FAST_BY_DEFAULT", "Engine", "EngineModel", "fastest_engine",
           "require", "require_cuda"]
