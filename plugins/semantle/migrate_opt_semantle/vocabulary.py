"""Common English words from ``wordfreq``: the pool of random targets, warm starts and the
non-LLM search space. Nothing here looks at the scoring oracle's similarities."""

from __future__ import annotations

from functools import lru_cache

from migrate_opt import TaskError

PAPER_TARGETS = (
    "airbase", "birthstone", "cement", "computer", "filament", "machetes", "meatloaf", "mob",
    "polyethylene", "skillet",
)
"""The ten targets of the MiGrATe paper's Semantle experiments."""

MIN_LENGTH = 3
"""Shorter entries of the frequency list are mostly function words and abbreviations."""


def is_word(text: str) -> bool:
    """A single alphabetic word (letters only, no spaces, digits or hyphens)."""
    return 0 < len(text) <= 40 and text.isalpha()


@lru_cache(maxsize=8)
def common_words(n: int) -> tuple[str, ...]:
    """The ``n`` most frequent English entries, keeping lower-case alphabetic ASCII words of
    at least three letters, most frequent first."""
    try:
        from wordfreq import top_n_list
    except ImportError as exc:
        raise TaskError("common words come from the wordfreq package: pip install wordfreq") \
            from exc
    return tuple(
        w for w in top_n_list("en", n)
        if w.isascii() and w.isalpha() and w.islower() and len(w) >= MIN_LENGTH
    )
