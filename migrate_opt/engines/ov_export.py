"""Converting the policy's Llama to an OpenVINO model of our own, cached on disk.

We write the forward pass ourselves over the Hugging Face model's modules (so no exporter
and no transformers pin is needed: ``openvino.convert_model`` traces it) with two choices
that make the adapter *live*: the LoRA matrices are inputs of the model, not constants, so
every call feeds the adapter as it is now (no swap, no stale prefix cache, no scale to get
wrong), and the key/value cache is explicit inputs and outputs, so the shared-prefix decode
loop of :mod:`migrate_opt.engines.decode` drives it like the torch model."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import EngineError

EXPORT_VERSION = "ov-v3"
"""Bump when the exported graph changes: old cache folders are then never reused.
v2: also the weights stored in fp16 (``model-f16.xml``); the info file records the
version, checked before a folder is used. v3: key/value heads repeated by broadcast, the
pattern OpenVINO fuses into one attention node over a stateful cache (:func:`make_stateful`)."""
MODEL_FILE = "model.xml"
F16_MODEL_FILE = "model-f16.xml"
"""The same graph with fp16 weights, computed in fp32 (half the weight traffic)."""
INFO_FILE = "lora_inputs.json"
"""Written last: the folder's completeness marker, and the order of the LoRA inputs."""
_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def lora_modules(llama: Any) -> dict[str, Any]:
    """The peft LoRA layers of the model by module name, in a fixed order."""
    from peft.tuners.lora import LoraLayer

    found = {n: m for n, m in llama.named_modules() if isinstance(m, LoraLayer)}
    return dict(sorted(found.items()))


class LlamaWithLiveLoRA(torch.nn.Module):
    """The Llama forward with an explicit cache and the LoRA matrices as inputs.

    ``forward(input_ids [B,T], attention_mask [B,S], position_ids [B,T], *cache, *lora)``:
    ``cache`` is past key and value per layer [B, KVH, S-T, hd]; ``lora`` is A then B of each
    adapted layer in :func:`lora_modules` order. Returns last-position logits [B, V] and the
    updated cache."""

    def __init__(self, llama: Any) -> None:
        super().__init__()
        if type(llama).__name__ not in ("LlamaForCausalLM",):
            raise EngineError(
                f"the openvino engine converts Llama models only, not {type(llama).__name__}: "
                "use the hf engine for this model"
            )
        self.llama = llama
        self.lora_names = list(lora_modules(llama))
        self._slot = {name: i for i, name in enumerate(self.lora_names)}
        self.n_layers = len(llama.model.layers)

    def _proj(self, name: str, module: Any, x: torch.Tensor, lora: tuple[Any, ...]) -> Any:
        slot = self._slot.get(name)
        if slot is None:
            return module(x)
        a, b = lora[2 * slot], lora[2 * slot + 1]
        scale = float(module.scaling["default"])
        return module.base_layer(x) + scale * ((x @ a.transpose(0, 1)) @ b.transpose(0, 1))

    def forward(self, input_ids: Any, attention_mask: Any, position_ids: Any, *flat: Any) -> Any:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        cache, lora = flat[: 2 * self.n_layers], flat[2 * self.n_layers :]
        h = self.llama.model.embed_tokens(input_ids)
        cos, sin = self.llama.model.rotary_emb(h, position_ids)
        bias = _attention_bias(attention_mask, input_ids.shape[1])
        present = []
        for i, layer in enumerate(self.llama.model.layers):
            attn, prefix = layer.self_attn, f"model.layers.{i}."
            x = layer.input_layernorm(h)
            shape = (x.shape[0], x.shape[1], -1, attn.head_dim)
            q, k, v = (
                self._proj(f"{prefix}self_attn.{n}", getattr(attn, n), x, lora)
                .reshape(shape).transpose(1, 2)
                for n in ("q_proj", "k_proj", "v_proj")
            )
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            k = torch.cat([cache[2 * i], k], dim=2)
            v = torch.cat([cache[2 * i + 1], v], dim=2)
            present += [k, v]
            o = torch.nn.functional.scaled_dot_product_attention(
                q, _repeat_heads(k, attn.num_key_value_groups),
                _repeat_heads(v, attn.num_key_value_groups), attn_mask=bias, scale=attn.scaling,
            )
            o = o.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
            h = h + self._proj(f"{prefix}self_attn.o_proj", attn.o_proj, o, lora)
            x, mlp = layer.post_attention_layernorm(h), layer.mlp
            gate = self._proj(f"{prefix}mlp.gate_proj", mlp.gate_proj, x, lora)
            up = self._proj(f"{prefix}mlp.up_proj", mlp.up_proj, x, lora)
            h = h + self._proj(f"{prefix}mlp.down_proj", mlp.down_proj, mlp.act_fn(gate) * up,
                               lora)
        logits = self.llama.lm_head(self.llama.model.norm(h[:, -1:, :]))[:, 0]
        return (logits, *present)


def _repeat_heads(kv: torch.Tensor, groups: int) -> torch.Tensor:
    """[B, KVH, S, hd] -> [B, KVH * groups, S, hd], each key/value head repeated for its
    query heads, as unsqueeze-broadcast-reshape: the form OpenVINO's CPU plugin fuses with a
    stateful cache into one attention node."""
    b, heads, s, d = kv.shape
    return kv[:, :, None].expand(b, heads, groups, s, d).reshape(b, heads * groups, s, d)


def _attention_bias(mask: torch.Tensor, new: int) -> torch.Tensor:
    """[B, 1, T, S] additive bias: a query sees real keys up to itself. Each position also
    sees itself, so a padding row is never all-masked (that would be NaN)."""
    index = torch.cumsum(torch.ones_like(mask), dim=-1) - 1  # [B, S] key positions
    query = index[:, -new:]  # the new tokens are the last ones
    visible = (index[:, None, :] <= query[:, :, None]) & (mask[:, None, :] > 0)
    visible = visible | (index[:, None, :] == query[:, :, None])
    zero = torch.zeros((), dtype=torch.float32)
    return torch.where(visible, zero, zero - 1e9)[:, None]


def export_key(llama: Any, name: str) -> str:
    """Folder name for this model and adapter layout: the export version, the model's
    config, the LoRA layers and scale, and a sample of the base weights."""
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    digest.update(json.dumps(llama.config.to_dict(), sort_keys=True, default=str).encode())
    for mod_name, module in lora_modules(llama).items():
        digest.update(f"{mod_name}:{module.r['default']}:{module.scaling['default']}".encode())
    for key, tensor in sorted(llama.state_dict().items()):
        if "lora_" in key:
            continue
        flat = tensor.detach().reshape(-1)
        digest.update(key.encode() + flat[:: max(1, flat.numel() // 256)].float().numpy().tobytes())
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(name).name)[:48]
    return f"{slug or 'model'}-{EXPORT_VERSION}-{digest.hexdigest()[:12]}"


def export(llama: Any, folder: Path) -> None:
    """Trace the model into ``folder`` (fp32 weights; the info file last)."""
    import openvino as ov

    wrapper = LlamaWithLiveLoRA(llama).eval()
    example = _example_inputs(wrapper)
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing touches a transformers attribute deprecated in v5; nothing to do for users.
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        model = ov.convert_model(wrapper, example_input=example)
    names = _input_names(wrapper)
    for port, input_name in zip(model.inputs, names, strict=True):
        port.get_tensor().set_names({input_name})
    ov.save_model(model, str(folder / MODEL_FILE), compress_to_fp16=False)
    ov.save_model(model, str(folder / F16_MODEL_FILE), compress_to_fp16=True)
    (folder / INFO_FILE).write_text(json.dumps({
        "version": EXPORT_VERSION, "lora": wrapper.lora_names, "inputs": names}))


def read_info(folder: Path) -> dict[str, Any] | None:
    """The info of a conversion of this version holding both models; None for anything else
    (another version, an edited info file). The cache's manifest already checked that every
    file is there at the size written (:mod:`migrate_opt.model_cache`)."""
    try:
        info = json.loads((folder / INFO_FILE).read_text())
        lora = info["lora"]
        if info.get("version") != EXPORT_VERSION or not isinstance(lora, list) or not all(
                isinstance(n, str) for n in lora):
            return None
        models = [folder / f"{Path(m).stem}.{ext}" for m in (MODEL_FILE, F16_MODEL_FILE)
                  for ext in ("xml", "bin")]
        return info if all(p.is_file() for p in models) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _input_names(wrapper: LlamaWithLiveLoRA) -> list[str]:
    cache = [f"past_{kv}.{i}" for i in range(wrapper.n_layers) for kv in ("key", "value")]
    lora = [f"{n}.lora_{ab}" for n in wrapper.lora_names for ab in ("A", "B")]
    return ["input_ids", "attention_mask", "position_ids", *cache, *lora]


def _example_inputs(wrapper: LlamaWithLiveLoRA) -> tuple[torch.Tensor, ...]:
    llama = wrapper.llama
    attn = llama.model.layers[0].self_attn
    kv_heads = llama.config.num_key_value_heads
    batch, past, new = 2, 3, 2
    cache = [torch.zeros(batch, kv_heads, past, attn.head_dim)] * (2 * wrapper.n_layers)
    lora = []
    for module in lora_modules(llama).values():
        lora += [module.lora_A["default"].weight.detach(), module.lora_B["default"].weight.detach()]
    ids = torch.ones(batch, new, dtype=torch.long)
    mask = torch.ones(batch, past + new, dtype=torch.long)
    pos = torch.arange(past, past + new)[None].repeat(batch, 1)
    return (ids, mask, pos, *cache, *lora)


def make_stateful(model: Any, llama: Any) -> Any:
    """The converted model with its key/value cache kept inside the compiled model
    (OpenVINO states) instead of passed in and out on every call.

    Inputs become ``input_ids, attention_mask, position_ids, *lora, beam_idx``; the only
    output is the logits. ``beam_idx`` [B] picks, for each row of this call, the cache row
    it continues (a prefill's prompt shared by several members is repeated this way, with
    no copy through Python). A reset state starts empty with the batch of ``input_ids``.
    The cache then never leaves the runtime, and the CPU plugin fuses cache update and
    attention into one node: a decode step measured 2.6x faster than the stateless model
    (benchmarks/results/iteration_cost_NOTES.md)."""
    import numpy as np
    import openvino.opset13 as ops
    from openvino._offline_transformations import apply_make_stateful_transformation

    n_layers, attn = len(llama.model.layers), llama.model.layers[0].self_attn
    params, results = model.get_parameters(), model.get_results()
    pairs = [(params[3 + i], results[1 + i]) for i in range(2 * n_layers)]
    beam = ops.parameter([-1], np.int32, name="beam_idx")
    beam.output(0).get_tensor().set_names({"beam_idx"})
    model.add_parameters([beam])
    for past, _ in pairs:  # every reader of a past cache reads the rows beam_idx picks
        port = past.output(0)
        readers = port.get_target_inputs()
        picked = ops.gather(port, beam, ops.constant(0))
        for reader in readers:
            reader.replace_source_output(picked.output(0))
    apply_make_stateful_transformation(model, pairs)
    batch = ops.gather(ops.shape_of(params[0], output_type="i64"), ops.constant([0]),
                       ops.constant(0))
    rest = ops.constant(np.array([llama.config.num_key_value_heads, 0, attn.head_dim], np.int64))
    for op in model.get_ops():
        if op.get_type_name() == "ReadValue":  # empty cache [batch, KVH, 0, hd] on reset
            shape = ops.concat([batch, rest], 0)
            op.set_arguments([ops.broadcast(ops.constant(0.0, dtype=np.float32), shape)])
    model.validate_nodes_and_infer_types()
    return model


def lora_arrays(llama: Any) -> list[Any]:
    """The live adapter as input arrays (sharing memory with the torch parameters)."""
    arrays = []
    for module in lora_modules(llama).values():
        for part in (module.lora_A["default"].weight, module.lora_B["default"].weight):
            arrays.append(part.detach().contiguous().numpy())
    return arrays


__all__ = ["LlamaWithLiveLoRA", "export", "export_key", "lora_arrays", "lora_modules",
           "make_stateful", "read_info"]
