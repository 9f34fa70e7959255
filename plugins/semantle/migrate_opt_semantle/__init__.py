"""Semantle for migrate-opt: guess a hidden English word; a guess scores the cosine
similarity of its embedding with the target's.

    from migrate_opt import Migrate, run
    from migrate_opt_semantle import SemantleTask

    task = SemantleTask(target="computer", oracle="glove", warm_start=20)
    opt = Migrate(task, method="migrate", top_k=3, budget=300)
    run(opt)  # scores the 20 warm-start words first, into the empty study
"""

from .oracles import ORACLES, Oracle, load_oracle
from .parsing import parse_words
from .space import WordSpace
from .task import SemantleTask, guess_metrics
from .vocabulary import PAPER_TARGETS, common_words
from .warm_start import warm_start

__all__ = [
    "guess_metrics",
    "ORACLES", "PAPER_TARGETS", "Oracle", "SemantleTask", "WordSpace", "common_words",
    "load_oracle", "parse_words", "warm_start",
]
