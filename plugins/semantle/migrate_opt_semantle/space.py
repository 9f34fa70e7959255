"""The search space of non-LLM baselines: a pool of common words, and neighborhoods taken
in a *different* embedding than the one that scores (GloVe-scored tasks move in MiniLM
space and vice versa), so a genetic or Bayesian optimizer gets a sense of meaning without
peeking at the oracle."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Sequence

import numpy as np

from migrate_opt import SearchSpace, cache_dir

from .oracles import Oracle, load_oracle

log = logging.getLogger(__name__)

NEIGHBOR_ORACLE = {"glove": "minilm", "minilm": "glove", "word2vec": "glove"}
"""Which embedding moves a search whose score comes from the key's oracle."""


class WordSpace(SearchSpace):
    """Words of ``pool``; ``mutate`` picks one of the ``k`` nearest pool words in the
    neighbor embedding, ``crossover`` the pool word nearest to the mean of two parents,
    ``encode`` is the neighbor vector and ``decode`` the nearest pool word."""

    def __init__(self, pool: Sequence[str], neighbor_oracle: str = "minilm", k: int = 10) -> None:
        self._pool = tuple(pool)
        self.neighbor_oracle = neighbor_oracle
        self.k = k
        self._matrix: np.ndarray | None = None
        self._row = {w: i for i, w in enumerate(self._pool)}

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_matrix": None}  # rebuilt (from the disk cache) on use

    # -- sampling and the pool -------------------------------------------------------------
    def pool(self) -> Sequence[str]:
        return self._pool

    def sample(self, rng: random.Random, n: int) -> list[str]:
        """``n`` distinct pool words (fewer when the pool is smaller)."""
        return rng.sample(self._pool, min(n, len(self._pool)))

    # -- moves in the neighbor embedding ----------------------------------------------------
    @property
    def dimension(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = _pool_vectors(self._pool, self.neighbor_oracle)
        return self._matrix

    def encode(self, solution: str) -> list[float] | None:
        vector = self._vector(solution)
        return None if vector is None else vector.tolist()

    def decode(self, vector: Sequence[float]) -> str | None:
        v = np.asarray(vector, dtype=np.float32)
        if v.shape != (self.dimension,) or not np.all(np.isfinite(v)):
            return None
        return self._pool[int(np.argmax(self.matrix @ v))]

    def mutate(self, solution: str, rng: random.Random) -> str | None:
        vector = self._vector(solution)
        if vector is None:
            return self.sample(rng, 1)[0]
        near = self._nearest(vector, self.k, exclude={solution})
        return rng.choice(near) if near else None

    def crossover(self, a: str, b: str, rng: random.Random) -> str | None:
        va, vb = self._vector(a), self._vector(b)
        if va is None or vb is None:
            return None
        near = self._nearest(va + vb, 1, exclude={a, b})
        return near[0] if near else None

    def neighbors(self, word: str, k: int | None = None) -> list[str]:
        """The ``k`` pool words nearest to ``word`` in the neighbor embedding."""
        vector = self._vector(word)
        return [] if vector is None else self._nearest(vector, k or self.k, exclude={word})

    def _vector(self, word: str) -> np.ndarray | None:
        if word in self._row:
            return self.matrix[self._row[word]]
        oracle = load_oracle(self.neighbor_oracle)
        return oracle.vectors([word])[0] if oracle.knows(word) else None

    def _nearest(self, vector: np.ndarray, k: int, exclude: set[str]) -> list[str]:
        sims = self.matrix @ vector
        top = np.argpartition(-sims, min(k + len(exclude), len(sims) - 1))[: k + len(exclude)]
        ranked = sorted(top, key=lambda i: -sims[i])
        return [self._pool[i] for i in ranked if self._pool[i] not in exclude][:k]


def _pool_vectors(pool: Sequence[str], oracle_name: str) -> np.ndarray:
    """Neighbour-embedding vectors of the pool, cached on disk: encoding 20k words with
    MiniLM takes about a minute on one core."""
    key = hashlib.sha1(("\n".join(pool) + oracle_name).encode()).hexdigest()[:16]
    path = cache_dir("semantle") / f"pool-{oracle_name}-{key}.npy"
    if path.exists():
        return np.load(path)
    log.info("embedding %d pool words with %s (once; cached in %s)", len(pool), oracle_name,
             path.parent)
    oracle: Oracle = load_oracle(oracle_name)
    known = [w if oracle.knows(w) else "" for w in pool]
    vectors = oracle.vectors([w for w in known if w])
    matrix = np.zeros((len(pool), vectors.shape[1]), dtype=np.float32)
    matrix[[i for i, w in enumerate(known) if w]] = vectors
    tmp = path.with_suffix(f".{random.getrandbits(32):x}.tmp.npy")
    np.save(tmp, matrix)
    tmp.replace(path)  # atomic: concurrent runs never read a half-written file
    return matrix
