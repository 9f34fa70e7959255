"""The ``arc`` task: write a Python ``transform(grid)`` that maps every training input of
an ARC task to its output. Programs run in the sandbox, never in this process."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from migrate_opt import Evaluation, Record, Task

from . import prompts
from .data import ArcProblem, load_problem
from .grids import grids_table
from .programs import extract_program, normalize_program, render_program
from .sandbox import Grid, Outcome, Sandbox, SandboxConfig, as_grid
from .sandbox.runner import KINDS
from .scoring import pair_score


class ArcTask(Task):
    """One ARC task as program synthesis. Score: mean over training pairs of
    1 - normalised Hamming distance; solved when every training pair is exact. Every
    program's outputs are kept in ``info["train_outputs"]`` (for reports, which run nothing)
    and ``info["test_outputs"]`` (for :func:`predict`)."""

    name = "arc"
    optimum = 1.0
    default_group_size = 16
    max_new_tokens = 512
    system_prompt = prompts.SYSTEM_PROMPT
    environment_options = frozenset({"timeout", "memory_mb", "workers", "batch_size",
                                     "isolation"})
    """The sandbox's limits and isolation: a study file never sets them."""

    def __init__(
        self,
        task_id: str = "00576224",
        split: str = "evaluation",
        dataset: str = "arcagi1",
        timeout: float = 2.0,
        memory_mb: int = 512,
        workers: int = 2,
        batch_size: int = 16,
        isolation: str = "auto",
    ) -> None:
        """``task_id`` of ``dataset`` (arcagi1, arcagi2), ``split`` training or evaluation;
        the rest configures the sandbox (seconds per grid, MB per program, worker processes,
        programs per worker, OS isolation: auto, bwrap, unshare or none)."""
        config = SandboxConfig(timeout=timeout, memory_mb=memory_mb, workers=workers,
                               batch_size=batch_size, isolation=isolation)
        self._setup(load_problem(task_id, split, dataset), split, dataset, config)

    @classmethod
    def from_problem(cls, problem: ArcProblem, sandbox: SandboxConfig | None = None) -> ArcTask:
        """A task from grids you provide (hand-made tasks, other datasets)."""
        task = cls.__new__(cls)
        task._setup(problem, "custom", "custom", sandbox or SandboxConfig())
        return task

    def _setup(self, problem: ArcProblem, split: str, dataset: str,
               config: SandboxConfig) -> None:
        self.problem = problem
        self.split = split
        self.dataset = dataset
        self.sandbox = Sandbox(config)

    # -- prompts -------------------------------------------------------------------------
    def prompt(self) -> str:
        return prompts.task_prompt(self.problem)

    def neighborhood_prompt(self, parent: Record) -> str:
        return prompts.neighborhood_prompt(self.problem, parent.solution, parent.score)

    def opro_prompt(self, history: Sequence[Record]) -> str:
        return prompts.opro_prompt(self.problem, [(r.solution, r.score) for r in history])

    # -- parsing -------------------------------------------------------------------------
    def parse(self, completion: str) -> list[str]:
        program = extract_program(completion)
        return [program] if program is not None else []

    def canonicalize(self, solution: str) -> str | None:
        return normalize_program(solution)

    def render(self, solutions: Sequence[str]) -> str:
        return "\n\n".join(render_program(s) for s in solutions)

    # -- evaluation ----------------------------------------------------------------------
    @property
    def inputs(self) -> list[Grid]:
        """Training inputs, then test inputs: what every program is run on."""
        return [p.input for p in self.problem.train] + [p.input for p in self.problem.test]

    def run(self, programs: Sequence[str]) -> list[list[Outcome]]:
        """Each program's outcome on every training then test input, in the sandbox."""
        return self.sandbox.run(list(programs), self.inputs)

    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        if not solutions:
            return []
        return [self._evaluation(outcomes) for outcomes in self.run(solutions)]

    def _evaluation(self, outcomes: list[Outcome]) -> Evaluation:
        n_train = len(self.problem.train)
        train, test = outcomes[:n_train], outcomes[n_train:]
        broken = next((o for o in outcomes if o.kind == "sandbox"), None)
        if broken is not None:  # our failure, not the program's: no score at all
            return Evaluation.invalid(f"sandbox failure: {broken.error}")
        targets = [p.output for p in self.problem.train]
        scores = [pair_score(o.output, t) for o, t in zip(train, targets)]  # type: ignore[arg-type]
        exact = [o.output == t for o, t in zip(train, targets)]
        failed = next((o for o in outcomes if not o.ok), None)
        info: dict[str, Any] = {
            "pair_scores": [round(s, 6) for s in scores],
            "train_exact": sum(exact),
            "kinds": [o.kind for o in outcomes],
            "train_outputs": [_stored(o) for o in train],
            "test_outputs": [_stored(o) for o in test],
        }
        if failed is not None:
            info["error"] = f"{failed.kind}: {failed.error}"
        return Evaluation(statistics.fmean(scores), info, solved=all(exact))

    # -- extras --------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        c = self.sandbox.config
        return {
            "task": self.name, "task_id": self.problem.task_id, "split": self.split,
            "dataset": self.dataset, "train_pairs": len(self.problem.train),
            "test_inputs": len(self.problem.test),
            "sandbox": {"timeout": c.timeout, "memory_mb": c.memory_mb,
                        "isolation": c.isolation},
        }

    def html(self, solution: str) -> str | None:
        """The program's outputs next to the expected ones, as coloured grids. It RUNS the
        program (in the sandbox): a page that views a study file uses :meth:`record_html`,
        which runs nothing."""
        program = normalize_program(solution)
        if program is None:
            return None
        return self._grids_html(self.run([program])[0])

    def record_html(self, record: Record) -> str | None:
        """The outputs stored with the record at evaluation time next to the expected ones
        (a report must not run programs from a study file); None when none are stored."""
        info = record.info
        n_train, n_test = len(self.problem.train), len(self.problem.test)
        train, test = info.get("train_outputs"), info.get("test_outputs")
        kinds = info.get("kinds")
        if not (isinstance(train, list) and len(train) == n_train and isinstance(test, list)
                and len(test) == n_test):
            return None
        if not (isinstance(kinds, list) and len(kinds) == n_train + n_test):
            kinds = ["ok"] * (n_train + n_test)
        outcomes = []
        for kind, output in zip(kinds, train + test):
            grid = as_grid(output)
            # Kinds come from the file: only the sandbox's own words are shown.
            kind = kind if kind in KINDS else "unknown"
            outcomes.append(Outcome("ok", grid) if kind == "ok" and grid is not None
                            else Outcome("malformed" if kind == "ok" else kind))
        return self._grids_html(outcomes)

    def _grids_html(self, outcomes: Sequence[Outcome]) -> str:
        n_train = len(self.problem.train)
        rows = [
            (f"Example {i + 1}", [("input", p.input), ("expected", p.output),
                                  (_caption(o, p.output), o.output)])
            for i, (p, o) in enumerate(zip(self.problem.train, outcomes))
        ]
        rows += [(f"Test {i + 1}", [("input", p.input), (_caption(o, None), o.output)])
                 for i, (p, o) in enumerate(zip(self.problem.test, outcomes[n_train:]))]
        return grids_table(rows)


def _stored(outcome: Outcome) -> list[list[int]] | None:
    return [list(r) for r in outcome.output] if outcome.output else None


def _caption(outcome: Outcome, target: Grid | None) -> str:
    if not outcome.ok:
        return f"program: {outcome.kind}"
    if target is None:
        return "program"
    return f"program ({pair_score(outcome.output, target):.2f})"


def problem_html(problem: ArcProblem, show_test_outputs: bool = False) -> str:
    """The task's grids as an HTML table (test outputs hidden unless asked)."""
    rows = [(f"Example {i + 1}", [("input", p.input), ("output", p.output)])
            for i, p in enumerate(problem.train)]
    rows += [(f"Test {i + 1}", [("input", p.input)] + (
        [("output", p.output)] if show_test_outputs else []))
        for i, p in enumerate(problem.test)]
    return grids_table(rows)
