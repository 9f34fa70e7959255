"""Guesses must be words, and the default landscape must not reward function words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from migrate_opt_semantle import PAPER_TARGETS, SemantleTask
from migrate_opt_semantle.dictionary import FUNCTION_WORDS

from migrate_opt import Migrate, TaskError
from migrate_opt.testing import ScriptedPolicy

INVENTED = ["fairycastle", "searchurl", "bawwwrowooolkey"]
"""Words SmolLM2 wrote at temperature 1; a sentence encoder embeds them like any string."""


@pytest.fixture(scope="module")
def default() -> SemantleTask:
    return SemantleTask(target="computer")


def test_the_default_is_minilm_with_the_wordfreq_dictionary(default: SemantleTask) -> None:
    assert default.oracle_name == "minilm" and default.dictionary == "wordfreq"
    assert default.exclude_function_words
    assert default.settings()["dictionary"] == "wordfreq"


def test_invented_words_are_invalid_and_cost_nothing(default: SemantleTask) -> None:
    evs = default.evaluate([*INVENTED, "laptop"])
    assert [e.score is None for e in evs] == [True, True, True, False]
    assert all("not a word of the wordfreq dictionary" in e.info["error"] for e in evs[:3])
    assert [default.canonicalize(w) for w in INVENTED] == [None] * 3
    opt = Migrate(default, policy=ScriptedPolicy(['["fairycastle", "searchurl"]', '["laptop"]']),
                  method="random", group_size=2, budget=10)
    group = opt.ask()
    assert group.solutions == ["laptop"]


def test_without_a_dictionary_the_encoder_scores_anything() -> None:
    task = SemantleTask(target="computer", dictionary="none")
    assert all(e.score is not None for e in task.evaluate(INVENTED))


def test_a_word_list_file_is_the_dictionary(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("# my words\nPan\nskillet\n\nwok\n")
    task = SemantleTask(target="skillet", oracle="glove", dictionary=str(path))
    pan, kettle = task.evaluate(["pan", "kettle"])
    assert pan.score is not None and kettle.score is None
    assert "dictionary" in kettle.info["error"]
    with pytest.raises(TaskError, match="cannot be guessed: not a word"):
        SemantleTask(target="computer", oracle="glove", dictionary=str(path))


@pytest.mark.parametrize("value, message", [
    ("", "dictionary must be wordfreq, none or the path"),
    ("no/such/words.txt", "nor an existing file"),
])
def test_the_dictionary_option_is_validated(value: str, message: str) -> None:
    with pytest.raises(TaskError, match=message):
        SemantleTask(dictionary=value)


def test_an_empty_or_binary_word_list_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(TaskError, match="holds no words"):
        SemantleTask(dictionary=str(empty))
    binary = tmp_path / "words.bin"
    binary.write_bytes(b"\xff\xfe\x00pan")
    with pytest.raises(TaskError, match="not UTF-8"):
        SemantleTask(dictionary=str(binary))


def test_function_words_can_be_left_out_of_the_vocabulary() -> None:
    task = SemantleTask(target="computer", oracle="glove", exclude_function_words=True)
    the, laptop = task.evaluate(["the", "laptop"])
    assert the.score is None and "function word" in the.info["error"]
    assert laptop.score is not None and task.canonicalize("it") is None
    assert not set(task.search_space().pool()) & FUNCTION_WORDS
    with pytest.raises(TaskError, match="function word"):
        SemantleTask(target="the")
    kept = SemantleTask(target="computer", oracle="glove", exclude_function_words=False)
    assert kept.evaluate(["the"])[0].score is not None and kept.canonicalize("it") == "it"
    assert set(kept.search_space().pool()) & FUNCTION_WORDS


@pytest.mark.parametrize("value", ["no", 0, None])
def test_exclude_function_words_must_be_a_bool(value: object) -> None:
    with pytest.raises(TaskError, match="exclude_function_words must be true or false"):
        SemantleTask(exclude_function_words=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("exclude", [False, True])
def test_warm_start_words_are_valid(exclude: bool) -> None:
    task = SemantleTask(target="skillet", oracle="glove", warm_start=20,
                        exclude_function_words=exclude)
    words = task.warm_start_solutions()
    assert len(words) == 20
    assert all(task.invalid_reason(w) is None for w in words)
    assert all(e.score is not None for e in task.evaluate(words))


FUNCTION = ["the", "of", "it", "her", "like", "as", "and", "own", "how", "same", "its",
            "something", "what", "this"]


def test_function_words_score_below_related_words(default: SemantleTask) -> None:
    """MiniLM keeps function words below related words ("meatloaf": at most 0.27 against at
    least 0.41); GloVe does not ("computer": "own" 0.64 above "keyboard"). The default also
    leaves function words out: "something" scores 0.59 against "computer" even in MiniLM."""
    meatloaf = SemantleTask(target="meatloaf", exclude_function_words=False)
    related = ["meatball", "casserole", "hamburger", "beef", "sausage"]
    rel = [e.score for e in meatloaf.evaluate(related)]
    fun = [e.score for e in meatloaf.evaluate(FUNCTION)]
    assert min(rel) > max(fun), (rel, fun)
    glove = SemantleTask(target="computer", oracle="glove", exclude_function_words=False)
    glove_rel = [e.score for e in glove.evaluate(["keyboard", "calculator", "mouse"])]
    glove_fun = [e.score for e in glove.evaluate(FUNCTION)]
    assert min(glove_rel) < max(glove_fun)  # the unfair landscape the default replaces
    assert all(e.score is None for e in default.evaluate(FUNCTION))
    assert all(e.score is not None for e in default.evaluate(related))


RELATED = {
    "airbase": "airfield runway hangar squadron", "birthstone": "gemstone jewel ruby garnet",
    "cement": "concrete mortar grout plaster", "computer": "laptop keyboard software processor",
    "filament": "tungsten bulb wire incandescent", "machetes": "knives swords axe hatchet",
    "meatloaf": "meatball casserole gravy hamburger", "mob": "crowd gang mafia riot",
    "polyethylene": "plastic polymer polypropylene vinyl", "skillet": "pan saucepan wok griddle",
}


@pytest.mark.slow
def test_related_words_outrank_function_words_on_every_paper_target() -> None:
    """Four related words per target against the task's function words: AUROC above 0.9
    on each of the paper's ten targets under the default oracle (the filter off, so the
    function words are scored)."""
    function = sorted(FUNCTION_WORDS)
    for target in PAPER_TARGETS:
        task = SemantleTask(target=target, exclude_function_words=False)
        rel = np.array([e.score for e in task.evaluate(RELATED[target].split())])
        fun = np.array([e.score for e in task.evaluate(function) if e.score is not None])
        assert len(fun) > 0.9 * len(function)  # a few contractions are not dictionary words
        auroc = float((rel[:, None] > fun[None, :]).mean())
        assert auroc > 0.9, (target, auroc)
