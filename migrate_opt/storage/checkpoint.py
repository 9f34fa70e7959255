"""Checkpoints that never execute code: tensors in safetensors, structure in JSON.

A checkpoint holds the policy's adapter and the updater's state (AdamW moments, step
counts, parameter groups). Both are trees of dicts, lists, tuples, JSON scalars and tensors.
The tensors go into one safetensors blob; the tree goes into its metadata as JSON, with
each tensor replaced by ``{"$tensor": key}``. Loading parses a JSON header and raw tensor
bytes, so a study file downloaded from anywhere is safe to resume: a pickle (what older
versions wrote with ``torch.save``) is refused, never unpickled."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

from ..errors import CheckpointError

FORMAT = "migrate-opt-checkpoint/1"
_MAX_HEADER = 100 * 2**20
"""A safetensors header larger than this is not one we wrote."""


def encode(policy: Mapping[str, Any], updater: Mapping[str, Any]) -> bytes:
    """One blob holding the adapter state and the updater state."""
    from safetensors.torch import save

    tensors: dict[str, Any] = {}
    trees = {"policy": _flatten(dict(policy), tensors), "updater": _flatten(dict(updater), tensors)}
    return bytes(save(tensors, metadata={"format": FORMAT, "trees": json.dumps(trees)}))


def decode(blob: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(policy_state, updater_state)`` of a blob written by :func:`encode`.

    Raises :class:`CheckpointError` (the reason, without the study) for anything else."""
    metadata = _metadata(blob)
    from safetensors.torch import load

    try:
        tensors = load(blob)
        trees = json.loads(metadata["trees"])
        policy, updater = trees["policy"], trees["updater"]
        out = _rebuild(policy, tensors), _rebuild(updater, tensors)
    except CheckpointError:
        raise
    except Exception as exc:  # any malformed content is one clear refusal
        reason = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(f"its checkpoint is malformed ({reason})") from None
    if not isinstance(out[0], dict) or not isinstance(out[1], dict):
        raise CheckpointError("its checkpoint is malformed (the states are not mappings)")
    return out


def _metadata(blob: bytes) -> dict[str, str]:
    if blob[:2] == b"PK" or blob[:1] == b"\x80":
        raise CheckpointError(
            "its checkpoint is a pickle (written by migrate-opt before 0.2, or crafted), "
            "which could run code when loaded, so it was not loaded"
        )
    if len(blob) < 8:
        raise CheckpointError("its checkpoint is truncated")
    (size,) = struct.unpack("<Q", blob[:8])
    if size > min(_MAX_HEADER, len(blob) - 8):
        raise CheckpointError("its checkpoint is not in the safetensors format")
    try:
        header = json.loads(blob[8 : 8 + size])
        metadata = header.get("__metadata__") or {}
    except (ValueError, AttributeError):
        raise CheckpointError("its checkpoint is not in the safetensors format") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"its checkpoint has format {metadata.get('format')!r}, not {FORMAT!r}"
        )
    return dict(metadata)


def _flatten(node: Any, tensors: dict[str, Any]) -> Any:
    """``node`` as JSON, tensors moved into ``tensors``."""
    import torch

    if isinstance(node, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = node.detach().cpu().contiguous()
        return {"$tensor": key}
    if isinstance(node, tuple):
        return {"$tuple": [_flatten(x, tensors) for x in node]}
    if isinstance(node, list):
        return [_flatten(x, tensors) for x in node]
    if isinstance(node, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in node):
            return {k: _flatten(v, tensors) for k, v in node.items()}
        return {"$items": [[_key(k), _flatten(v, tensors)] for k, v in node.items()]}
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise CheckpointError(f"cannot store a {type(node).__name__} in a checkpoint")


def _key(k: Any) -> Any:
    if isinstance(k, bool) or not isinstance(k, (int, str)):
        raise CheckpointError(f"cannot store a mapping key {k!r} in a checkpoint")
    return k


def _rebuild(node: Any, tensors: Mapping[str, Any]) -> Any:
    """The tree :func:`_flatten` wrote; anything outside that schema is refused."""
    if isinstance(node, list):
        return [_rebuild(x, tensors) for x in node]
    if isinstance(node, dict):
        if set(node) == {"$tensor"}:
            return tensors[node["$tensor"]]
        if set(node) == {"$tuple"} and isinstance(node["$tuple"], list):
            return tuple(_rebuild(x, tensors) for x in node["$tuple"])
        if set(node) == {"$items"} and isinstance(node["$items"], list):
            return {_key(k): _rebuild(v, tensors) for k, v in node["$items"]}
        if any(k.startswith("$") for k in node):
            raise CheckpointError(f"its checkpoint has an unknown node {sorted(node)}")
        return {k: _rebuild(v, tensors) for k, v in node.items()}
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise CheckpointError(f"its checkpoint has an unexpected {type(node).__name__}")
