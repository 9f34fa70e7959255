"""Exploration-aware parents: a PUCT rule over the archive of past solutions.

The neighbourhood sampler always grows groups from the top-k. TTT-Discover (arXiv
2601.16175) instead picks the state each group grows from by

    score(i) = Q(i) + c * scale * P(i) * sqrt(1 + T) / (1 + n_i)

Q(i) is the best reward among i's descendants (its own while it has none), P(i) a linear rank
prior (the best record weighs most), scale the reward range of the archive, n_i how often i or
a descendant of i was expanded, T the number of expansions so far. The parents of one group
come from distinct lineages: none is an ancestor or a descendant of another.

The tree is read from storage: a record's ``parent`` tag links it to the solution it was a
variation of, and each member a group grew from a parent carries a ``puct_parent`` tag, so
visit counts include expansions that gave only repeats or invalid answers. A resumed run
therefore continues the same tree; nothing else is kept.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..values import Proposal, Record
from . import Sampler, SamplerContext, _fresh

EXPANSION_TAG = "puct_parent"
"""Tag on every member proposed from a parent: one expansion of that parent."""


@dataclass
class Tree:
    """Valid records as nodes, parent links from their tags, expansion counts per node."""

    reward: dict[str, float]
    """Solution -> score (valid records only), in insertion order."""
    parent: dict[str, str]
    """Solution -> the solution it was a variation of (when that one is in the tree)."""
    expansions: Counter[str] = field(default_factory=Counter)
    """Solution -> how many members were proposed from it directly."""

    @classmethod
    def from_history(cls, records: Iterable[Record], expansions: Mapping[str, int]) -> Tree:
        valid = [r for r in records if r.score is not None]
        reward = {r.solution: float(r.score) for r in valid}  # type: ignore[arg-type]
        parent = {
            r.solution: str(r.tags["parent"])
            for r in valid
            if r.tags.get("parent") in reward and r.tags["parent"] != r.solution
        }
        return cls(reward, parent, Counter({s: n for s, n in expansions.items() if s in reward}))

    def ancestors(self, node: str) -> list[str]:
        chain, seen = [], {node}
        while node in self.parent and self.parent[node] not in seen:
            node = self.parent[node]
            seen.add(node)
            chain.append(node)
        return chain

    def visits(self) -> Counter[str]:
        """n_i: expansions of i and of its descendants (each expansion counts up the chain)."""
        n: Counter[str] = Counter()
        for node, count in self.expansions.items():
            for x in [node, *self.ancestors(node)]:
                n[x] += count
        return n

    def best_descendant(self) -> dict[str, float]:
        """Q: the best reward below each node, or the node's own reward when it has none."""
        q: dict[str, float] = {}
        for node, r in self.reward.items():
            for x in self.ancestors(node):
                q[x] = max(q.get(x, -math.inf), r)
        return {node: q.get(node, r) for node, r in self.reward.items()}


def puct_scores(tree: Tree, c: float = 1.0) -> dict[str, float]:
    """score(i) for every node of ``tree`` (see the module docstring)."""
    if not tree.reward:
        return {}
    rewards = tree.reward
    ranked = sorted(rewards, key=lambda s: -rewards[s])  # stable: earlier records first
    size = len(ranked)
    prior = {s: (size - rank) / (size * (size + 1) / 2) for rank, s in enumerate(ranked)}
    spread = max(rewards.values()) - min(rewards.values())
    scale = spread if spread > 0 else 1.0
    total = sum(tree.expansions.values())
    n = tree.visits()
    q = tree.best_descendant()
    bonus = c * scale * math.sqrt(1 + total)
    return {s: q[s] + bonus * prior[s] / (1 + n[s]) for s in ranked}


def choose_parents(tree: Tree, k: int, c: float = 1.0) -> list[str]:
    """Up to ``k`` highest-scoring nodes, no two in one lineage (ancestor or descendant)."""
    scores = puct_scores(tree, c)
    children: dict[str, list[str]] = {}
    for child, parent in tree.parent.items():
        children.setdefault(parent, []).append(child)
    chosen: list[str] = []
    blocked: set[str] = set()
    for node in sorted(scores, key=lambda s: -scores[s]):
        if len(chosen) == k:
            break
        if node in blocked:
            continue
        chosen.append(node)
        blocked.update([node, *tree.ancestors(node), *_descendants(node, children)])
    return chosen


def _descendants(node: str, children: Mapping[str, list[str]]) -> list[str]:
    out, stack = [], list(children.get(node, []))
    while stack:
        x = stack.pop()
        out.append(x)
        stack.extend(children.get(x, []))
    return out


class Puct(Sampler):
    """Neighbourhood members grown from parents chosen by PUCT over the whole archive.

    ``parents`` distinct lineages share the ``n`` members of a group as evenly as possible
    (None: one parent per member, as many lineages as the archive offers)."""

    name = "puct"

    def __init__(self, c: float = 1.0, parents: int | None = None) -> None:
        if not (isinstance(c, (int, float)) and math.isfinite(c) and c >= 0):
            raise ConfigError(f"puct c must be a finite number >= 0, got {c!r}")
        if parents is not None and (isinstance(parents, bool) or int(parents) != parents
                                    or parents < 1):
            raise ConfigError(f"puct parents must be an integer >= 1 or None, got {parents!r}")
        self.c = float(c)
        self.parents = parents

    def tree(self, ctx: SamplerContext) -> Tree:
        expansions: Counter[str] = Counter()
        for _, members in ctx.database.groups():
            expansions.update(
                str(m["tags"][EXPANSION_TAG]) for m in members
                if EXPANSION_TAG in (m.get("tags") or {})
            )
        return Tree.from_history(ctx.database.records(), expansions)

    def propose(self, ctx: SamplerContext, n: int) -> list[Proposal]:
        if n <= 0:
            return []
        chosen = choose_parents(self.tree(ctx), min(self.parents or n, n), self.c)
        if not chosen:
            return _fresh(ctx, n)
        records = ctx.database.get_many(chosen)
        proposals = []
        for i in range(n):
            parent = records[chosen[i % len(chosen)]]
            proposals.append(Proposal(
                self.name, prompt=ctx.task.neighborhood_prompt(parent),
                tags={"parent": parent.solution, EXPANSION_TAG: parent.solution},
            ))
        return proposals
