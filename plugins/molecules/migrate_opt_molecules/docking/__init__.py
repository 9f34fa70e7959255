"""Docking objectives: the engine (``engine.py``: processes, timeouts, cache), the scores
(``scoring.py``) and the task (``task.py``). Nothing is imported here, so that
``python -m migrate_opt_molecules.docking.child`` starts clean."""
