"""Which guesses are words: the dictionary a guess must be in before it is scored, and the
function words a task may leave out of its vocabulary.

The public game rejects words it does not know. A sentence encoder embeds any string, and
SmolLM2 at temperature 1 invents words ("fairycastle", "searchurl"), so a guess is checked
against a word list first and an unknown one is invalid rather than scored."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from migrate_opt import TaskError

DICTIONARIES = ("wordfreq", "none")
"""Named dictionaries; any other value is the path of a word list (one word per line)."""

MAX_WORD_LIST_BYTES = 64 << 20
"""A word list larger than this is refused (the wordfreq list is about 3 MB of words)."""

FUNCTION_WORDS = frozenset("""
a an the this that these those some any each every either neither no none all both half
another other others such same own what which whose whatever whichever
i me my mine myself you your yours yourself yourselves he him his himself she her hers
herself it its itself we us our ours ourselves they them their theirs themselves one ones
who whom whoever someone somebody something anyone anybody anything everyone everybody
everything nobody nothing noone
am is are was were be been being have has had having do does did doing done
will would shall should can could may might must ought
isnt arent wasnt werent hasnt havent hadnt doesnt dont didnt wont wouldnt shant shouldnt
cant cannot couldnt mustnt neednt im ive youre youve youll hes shes weve theyre theyve
youd theyd itll thats theres whats
of in on at by for with about against between into through during before after above below
to from up down out off over under again further among amongst around across along beside
besides beyond within without upon onto toward towards via per than like unlike despite
since until till near inside outside throughout underneath
and or but nor so yet if then else because although though while whereas unless whether
as once when whenever where wherever why how however therefore thus hence
not never also only just very too quite rather even still already almost enough really
here there now often always sometimes ever perhaps maybe again more most less least much
many few several yes oh ah um uh ok okay hey
""".split())
"""Closed-class English words (articles, determiners, pronouns, auxiliaries and modals with
their contractions written without the apostrophe, prepositions, conjunctions, and the
commonest adverbs and particles), written for this task. GloVe scores them close to many
targets because they co-occur with everything; ``exclude_function_words`` keeps them out of
a task's vocabulary."""


@lru_cache(maxsize=1)
def wordfreq_words() -> frozenset[str]:
    """Lower-case alphabetic entries of wordfreq's large English list (about 289k words;
    loads in about 2 s)."""
    try:
        from wordfreq import get_frequency_dict
    except ImportError as exc:
        raise TaskError("the wordfreq dictionary needs the wordfreq package: pip install "
                        "wordfreq, or pass dictionary=none") from exc
    return frozenset(w for w in get_frequency_dict("en", wordlist="large")
                     if w.isascii() and w.isalpha())


@lru_cache(maxsize=2)
def word_list_file(path: str) -> frozenset[str]:
    """A UTF-8 text file of words, one per line (lower-cased; blank lines and lines starting
    with ``#`` are skipped). It is read as data only."""
    p = Path(path)
    if not p.is_file():
        raise TaskError(f"dictionary {path!r} is neither {' nor '.join(DICTIONARIES)} nor an "
                        "existing file; pass a text file with one word per line")
    if p.stat().st_size > MAX_WORD_LIST_BYTES:
        raise TaskError(f"dictionary file {path!r} is over {MAX_WORD_LIST_BYTES >> 20} MB; pass "
                        "a word list with one word per line")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise TaskError(f"dictionary file {path!r} is not UTF-8 text; pass a word list with "
                        "one word per line") from exc
    words = frozenset(s.lower() for line in lines if (s := line.strip()) and s[0] != "#")
    if not words:
        raise TaskError(f"dictionary file {path!r} holds no words; pass a word list with one "
                        "word per line")
    return words


def load_dictionary(name: str) -> frozenset[str] | None:
    """The words of dictionary ``name`` (``wordfreq``, or a word-list file), or None for
    ``none`` (every word the oracle can embed is a word)."""
    if name == "none":
        return None
    if name == "wordfreq":
        return wordfreq_words()
    return word_list_file(name)
