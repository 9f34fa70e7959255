"""Semantle: guess a hidden word; a guess scores the cosine similarity of its embedding with
the target's, and the exact word scores 1.0 and solves the game."""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from migrate_opt import Evaluation, Record, Task, TaskError
from migrate_opt.metrics import evaluations_to_solve

from .dictionary import DICTIONARIES, FUNCTION_WORDS, load_dictionary
from .oracles import ORACLES, Oracle, load_oracle
from .parsing import answer_grammar, parse_words
from .space import NEIGHBOR_ORACLE, WordSpace
from .vocabulary import PAPER_TARGETS, common_words, is_word

SYSTEM_PROMPT = (
    "You are a helpful assistant with high attention to detail who is not talkative and "
    "answers only with a JSON list of English words, with no other text."
)
RANDOM_TARGETS = (300, 5000)
"""Random targets are common words between these frequency ranks (the very top of the
list is function words: 'the', 'and')."""
NEAR_ONE = 1.0 - 1e-6
"""Similarities of other words are capped here, so only the target itself reaches 1.0."""


class SemantleTask(Task):
    """Guess a hidden English word by meaning.

    Args:
        target: the hidden word (one of the paper's ten, or any dictionary word the oracle
            can embed); ``"random"`` draws a common word from the wordfreq list with
            ``target_seed``.
        oracle: the embedding that scores guesses: ``minilm`` (default: the all-MiniLM-L6-v2
            sentence encoder on "What is a {word}?", the paper's construction with MiniLM
            standing in for its SimCSE), ``glove`` (GloVe 6B 50-d) or ``word2vec`` (a file).
            MiniLM is the default: on the paper's ten targets GloVe scores stop words above a
            typical vocabulary word (AUROC 0.59; "own" 0.64 and "how" 0.62 against
            "computer", above "keyboard" 0.58), so a trained policy learns to answer with them,
            and ranks a target's related words lower (median rank 88 against 49);
            ``benchmarks/results/semantle_landscape.md``.
        oracle_model: the sentence-transformers folder for ``minilm`` (default: all-MiniLM-L6-v2
            from its wheel) or the vector file for ``word2vec``.
        words: words asked for in one completion; extra words in an answer are ignored, so a
            rambling completion cannot burn the budget. Each new word costs one evaluation.
        warm_start: scored random common words given before the search (see
            :func:`migrate_opt_semantle.warm_start`); they count in the budget.
        target_seed: draws the random target.
        warm_start_seed: draws the warm-start words.
        pool_size: entries of the wordfreq list forming the non-LLM search space.
        neighbors: the embedding whose neighborhoods non-LLM baselines move in; ``auto``
            takes one different from the oracle (MiniLM for GloVe, GloVe otherwise).
        neighbours: deprecated spelling of ``neighbors``, still accepted.
        dictionary: the words a guess must be one of, as the game rejects words it does not
            know: ``wordfreq`` (default: wordfreq's large English list, about 289k words),
            ``none`` (any word the oracle embeds; a sentence encoder embeds invented words
            too) or the path of a text file with one word per line. Other guesses are
            invalid, with the reason in ``info["error"]``, and cost no budget.
        exclude_function_words: leave the closed-class words of
            :data:`~migrate_opt_semantle.dictionary.FUNCTION_WORDS` ("the", "it",
            "something") out of the vocabulary: they become invalid guesses and cost no
            budget. On by default: even MiniLM scores "something" 0.59 and "what" 0.56
            against "computer", above "calculator" (0.50), because "What is a something?"
            reads like "What is a computer?".
    """

    name = "semantle"
    system_prompt = SYSTEM_PROMPT
    # The answer opens as a JSON list and ends when it closes: SmolLM2-135M sampled at
    # temperature 1 wrote 0 of 10 parseable answers without the opening, 12 of 20 with it.
    response_prefix = '["'
    stop = ('"]',)
    optimum = 1.0
    default_group_size = 5
    """The paper: 5 completions of 2 words, 10 guesses per iteration."""
    default_group = {"on_policy": 0, "greedy": 0, "neighborhood": {"top_k": 3},
                     "islands": {"top_k": 3}}
    """The paper's Semantle MiGrATe variants are all exploration (alpha = beta = 0: every
    completion is a neighborhood, OPRO or island member), parents from the top 3."""
    max_new_tokens = 32
    """A JSON list of two words is about 10 tokens; 32 leaves room for a little chatter."""
    environment_options = frozenset({"oracle_model"})
    """A model folder on this machine: a study file never names one to load."""

    def __init__(
        self,
        target: str = "computer",
        oracle: str = "minilm",
        oracle_model: str | None = None,
        words: int = 2,
        warm_start: int = 0,
        target_seed: int = 0,
        warm_start_seed: int = 0,
        pool_size: int = 20_000,
        neighbors: str = "auto",
        neighbours: str | None = None,
        dictionary: str = "wordfreq",
        exclude_function_words: bool = True,
    ) -> None:
        if neighbours is not None:
            warnings.warn("the semantle option `neighbours` is now spelled `neighbors`",
                          DeprecationWarning, stacklevel=2)
            neighbors = neighbours
        if oracle not in ORACLES:
            raise TaskError(f"unknown oracle {oracle!r}; choose one of {', '.join(ORACLES)}")
        if words < 1 or warm_start < 0 or pool_size < 1:
            raise TaskError("words and pool_size must be >= 1 and warm_start >= 0, got "
                            f"words={words}, pool_size={pool_size}, warm_start={warm_start}")
        if neighbors != "auto" and neighbors not in ("glove", "minilm"):
            raise TaskError(f"neighbors must be auto, glove or minilm, got {neighbors!r}")
        if not isinstance(exclude_function_words, bool):
            raise TaskError("exclude_function_words must be true or false, got "
                            f"{exclude_function_words!r}")
        if not isinstance(dictionary, str) or not dictionary.strip():
            raise TaskError(f"dictionary must be {', '.join(DICTIONARIES)} or the path of a "
                            f"word list, got {dictionary!r}")
        self.oracle_name = oracle
        self.dictionary = dictionary
        self.exclude_function_words = exclude_function_words
        self._words = load_dictionary(dictionary)  # checks a file now, before any model
        self.oracle_model = oracle_model
        self.words = words
        self.answer_grammar = answer_grammar(words)
        self.warm_start = warm_start
        self.target_seed = target_seed
        self.warm_start_seed = warm_start_seed
        self.pool_size = pool_size
        self.neighbors = NEIGHBOR_ORACLE[oracle] if neighbors == "auto" else neighbors
        self._oracle: Oracle | None = None
        self._target_vector: np.ndarray | None = None
        self._space: WordSpace | None = None
        self.target = self._choose_target(target)

    def _choose_target(self, target: str) -> str:
        if target == "random":
            lo, hi = RANDOM_TARGETS
            choices = [w for w in common_words(hi)[lo:] if self.invalid_reason(w) is None]
            return random.Random(f"semantle-target:{self.target_seed}").choice(choices)
        word = target.strip().lower()
        if not is_word(word):
            raise TaskError(f"the target must be a single alphabetic word, got {target!r}")
        reason = self.invalid_reason(word)
        if reason is not None:
            raise TaskError(f"the target {word!r} cannot be guessed: {reason}; choose another "
                            f"word (the paper's: {', '.join(PAPER_TARGETS)})")
        return word

    # -- heavy state, loaded lazily and never pickled ----------------------------------------
    @property
    def oracle(self) -> Oracle:
        if self._oracle is None:
            self._oracle = load_oracle(self.oracle_name, self.oracle_model)
        return self._oracle

    @property
    def target_vector(self) -> np.ndarray:
        if self._target_vector is None:
            self._target_vector = self.oracle.vectors([self.target])[0]
        return self._target_vector

    @property
    def known_words(self) -> frozenset[str] | None:
        """The dictionary's words (None: no dictionary, the oracle decides)."""
        if self._words is None and self.dictionary != "none":
            self._words = load_dictionary(self.dictionary)
        return self._words

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_oracle": None, "_target_vector": None, "_space": None,
                "_words": None}

    # -- prompts ----------------------------------------------------------------------------
    def _answer_format(self) -> str:
        # No example words: a small model copies them ("word1") instead of guessing.
        return (f"Answer with exactly {self.words} new single English word(s) as a JSON list "
                "of strings.")

    def prompt(self) -> str:
        return (
            "Your task is to guess a hidden word from the English dictionary. Every guess is "
            "scored by how close its meaning is to the hidden word; repeated guesses score "
            f"nothing. Be creative! {self._answer_format()}"
        )

    def neighborhood_prompt(self, parent: Record) -> str:
        return (
            "Your task is to guess English words related to the word "
            f'"{parent.solution}". Stick to proper single English words. Be creative! '
            f"{self._answer_format()}"
        )

    def opro_prompt(self, history: Sequence[Record]) -> str:
        lines = "\n".join(f'"{r.solution}": {r.score:.3f}' for r in history)
        return (
            "Your task is to guess a hidden word from the English dictionary. These guesses "
            "were scored by how close their meaning is to the hidden word (1.0 is the hidden "
            f"word), from worst to best:\n{lines}\nGuess words that score higher than all of "
            f"them. {self._answer_format()}"
        )

    # -- parsing ----------------------------------------------------------------------------
    def parse(self, completion: str) -> list[str]:
        return parse_words(completion, self.words)

    def invalid_reason(self, word: str) -> str | None:
        """Why ``word`` (canonical form) cannot be scored, or None when it can."""
        if not is_word(word):
            return "not a single alphabetic word"
        if word != word.lower():
            return "not canonical (lower-case): canonicalize it first"
        if self.exclude_function_words and word in FUNCTION_WORDS:
            return "a function word, left out of the vocabulary (exclude_function_words)"
        if not self.oracle.knows(word):
            return f"the {self.oracle_name} oracle does not know this word"
        words = self.known_words
        if words is not None and word not in words:
            return f"not a word of the {self.dictionary} dictionary"
        return None

    def canonicalize(self, solution: str) -> str | None:
        """Lower-case and stripped; None for anything that cannot be scored, so invalid
        guesses never reach the black box nor spend budget."""
        word = solution.strip().lower()
        return word if self.invalid_reason(word) is None else None

    # -- evaluation -------------------------------------------------------------------------
    def similarities(self, words: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each known word with the target (vectorised)."""
        if not words:
            return np.zeros(0, dtype=np.float32)
        return self.oracle.vectors(words) @ self.target_vector

    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        reasons = [self.invalid_reason(w) for w in solutions]
        valid = [w for w, r in zip(solutions, reasons) if r is None]
        sims = iter(self.similarities(valid).tolist())
        out = []
        for word, reason in zip(solutions, reasons):
            if reason is not None:
                out.append(Evaluation.invalid(reason, word=word))
            elif word == self.target:
                next(sims)
                out.append(Evaluation(1.0, {"similarity": 1.0}, solved=True))
            else:
                sim = next(sims)
                out.append(Evaluation(min(sim, NEAR_ONE), {"similarity": round(sim, 6)}))
        return out

    def is_solved(self, evaluation: Evaluation) -> bool:
        return evaluation.solved or (evaluation.score is not None and evaluation.score >= 1.0)

    # -- extras -----------------------------------------------------------------------------
    def warm_start_solutions(self) -> list[str]:
        """``warm_start`` common words drawn with ``warm_start_seed`` (never the target)."""
        if not self.warm_start:
            return []
        pool = [w for w in self.search_space().pool() if w != self.target]
        rng = random.Random(f"semantle-warm:{self.warm_start_seed}")
        return rng.sample(pool, min(self.warm_start, len(pool)))

    def search_space(self) -> WordSpace:
        if self._space is None:
            pool = [w for w in common_words(self.pool_size) if self.invalid_reason(w) is None]
            self._space = WordSpace(pool, self.neighbors)
        return self._space

    def settings(self) -> dict[str, Any]:
        return {
            "task": self.name, "target": self.target, "oracle": self.oracle_name,
            "oracle_model": self.oracle_model, "words": self.words, "warm_start": self.warm_start,
            "target_seed": self.target_seed, "warm_start_seed": self.warm_start_seed,
            "dictionary": self.dictionary, "exclude_function_words": self.exclude_function_words,
        }


def guess_metrics(task: SemantleTask, records: Sequence[Record]) -> dict[str, float | int | None]:
    """The benchmark harness's metric hook for Semantle (``metrics =
    "migrate_opt_semantle:guess_metrics"``): guesses to solve (warm-start guesses included,
    None when unsolved) and the best similarity reached."""
    scores = [r.score for r in records if r.score is not None]
    return {"guesses_to_solve": evaluations_to_solve(records),
            "best_similarity": max(scores, default=None)}
