"""The engine contract on the built-in engines: ``hf`` (the reference) and ``openvino`` in
f32 and in its default precision."""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from migrate_opt.engines.hf import HFEngine  # noqa: E402
from migrate_opt.testing.engines import EngineContract  # noqa: E402

needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                    reason="the openvino extra is not installed")

OV_LOGPROB_MEAN = {"f16": 0.01, "bf16": 0.25}
"""Mean |behaviour log-prob - the torch model's| allowed per reduced precision, in nats, on
the tokens the engine sampled. Measured on this tiny random model with its adapter
perturbed (peaked logits, the worst case): bf16 0.14; on SmolLM2-135M (24 toy completions
of 16 tokens, the stateful model): f16 0.002 mean (0.010 max), bf16 0.037 mean (0.22 max),
f32 below 5e-5."""


class TestHFEngine(EngineContract):
    @pytest.fixture
    def engine(self):
        return HFEngine()


class TestHFEngineUnshared(EngineContract):
    """The reference path (every member prefilled) passes the same checks."""

    @pytest.fixture
    def engine(self):
        return HFEngine(share_prefix=False)


@pytest.fixture(scope="module")
def ov_cache(tmp_path_factory):
    """One conversion cache for the module: each check converts the tiny model at most once
    per precision."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIGRATE_OPT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@needs_openvino
class TestOpenVINOF32(EngineContract):
    logprob_max_gap = 1e-3
    logprob_mean_gap = 1e-3

    @pytest.fixture
    def engine(self, ov_cache):
        from migrate_opt.engines.openvino import OpenVINOEngine

        return OpenVINOEngine("f32")


@needs_openvino
class TestOpenVINODefaultPrecision(EngineContract):
    """bf16 where the CPU has bf16 units, else f16: tokens may differ from torch's."""

    logprob_max_gap = float("inf")
    logprob_mean_gap = max(OV_LOGPROB_MEAN.values())
    draws_like_hf = False

    @pytest.fixture
    def engine(self, ov_cache):
        from migrate_opt.engines.openvino import OpenVINOEngine

        engine = OpenVINOEngine()
        self.logprob_mean_gap = OV_LOGPROB_MEAN[engine.precision]
        return engine


@needs_openvino
class TestOpenVINOF16(EngineContract):
    """f16 weights, f32 compute (the default where the CPU lacks bf16 units)."""

    logprob_max_gap = float("inf")
    logprob_mean_gap = OV_LOGPROB_MEAN["f16"]
    draws_like_hf = False

    @pytest.fixture
    def engine(self, ov_cache):
        from migrate_opt.engines.openvino import OpenVINOEngine

        return OpenVINOEngine("f16")
