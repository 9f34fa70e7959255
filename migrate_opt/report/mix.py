"""The group mix over iterations: how many members each sampler's slots held, so a run with
an adaptive mix shows where its slots went."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ..samplers.adaptive_mix import SLOT_TAG
from . import svg


def slot_counts(
    groups: Sequence[tuple[int, Sequence[Mapping[str, Any]]]],
) -> dict[str, list[tuple[float, float]]]:
    """sampler -> [(iteration, members of its slots)], from the stored groups; a member
    without a slot tag counts for its source."""
    per_iteration = [
        (it, Counter((m.get("tags") or {}).get(SLOT_TAG) or m.get("source", "?") for m in ms))
        for it, ms in groups
    ]
    names = sorted({n for _, c in per_iteration for n in c})
    return {n: [(float(it), float(c.get(n, 0))) for it, c in per_iteration] for n in names}


def is_adaptive(groups: Sequence[tuple[int, Sequence[Mapping[str, Any]]]]) -> bool:
    return any(SLOT_TAG in (m.get("tags") or {}) for _, ms in groups for m in ms)


def mix_svg(groups: Sequence[tuple[int, Sequence[Mapping[str, Any]]]]) -> str:
    return svg.line_chart(slot_counts(groups), title="members per sampler",
                          xlabel="iteration", ylabel="members", step=True)
