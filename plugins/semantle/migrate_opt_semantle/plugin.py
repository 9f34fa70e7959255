"""The migrate-opt plugin: registers the ``semantle`` task."""

from __future__ import annotations

from migrate_opt import hookimpl


@hookimpl
def register_tasks(register):  # type: ignore[no-untyped-def]
    from .task import SemantleTask

    register("semantle", SemantleTask,
             description="guess a hidden word by meaning (GloVe, MiniLM or word2vec oracle)")
