"""Induction-style prompts: the training pairs as examples, the test input(s) (never their
outputs), and a request for a Python ``transform(grid)``."""

from __future__ import annotations

from collections.abc import Sequence

from .data import ArcProblem
from .grids import colour_legend, grid_text
from .programs import render_program

SYSTEM_PROMPT = (
    "You are an expert at abstract visual puzzles and a skilled Python programmer. "
    "You find the rule behind grid transformations and write it as Python code."
)

_GRIDS = (
    "Each puzzle pairs an input grid with an output grid, and every pair follows the same "
    "hidden rule. Grids are written one row per line, cells as colour names separated by "
    "spaces. In code a grid is a 2-D numpy array of integers: " + colour_legend() + "."
)

_REQUEST = (
    "Write a Python function `transform(grid)` that takes an input grid (a numpy array of "
    "integers 0-9) and returns its output grid (a numpy array or a list of lists of "
    "integers 0-9), following the rule of the examples. Only numpy and pure standard-library "
    "modules (math, itertools, collections, functools, copy, random, re) can be imported. "
    "Answer with a single ```python code block."
)


def examples_text(problem: ArcProblem) -> str:
    parts = []
    for i, pair in enumerate(problem.train, 1):
        assert pair.output is not None
        parts.append(f"Example {i}\nInput:\n{grid_text(pair.input)}\n\n"
                     f"Output:\n{grid_text(pair.output)}")
    return "\n\n".join(parts)


def test_inputs_text(problem: ArcProblem) -> str:
    if len(problem.test) == 1:
        return f"The test input grid:\n{grid_text(problem.test[0].input)}"
    return "\n\n".join(f"Test input {i}:\n{grid_text(p.input)}"
                       for i, p in enumerate(problem.test, 1))


def _context(problem: ArcProblem) -> str:
    return (f"{_GRIDS}\n\nHere are the examples:\n\n{examples_text(problem)}\n\n"
            f"{test_inputs_text(problem)}")


def task_prompt(problem: ArcProblem) -> str:
    return f"{_context(problem)}\n\n{_REQUEST}"


def neighborhood_prompt(problem: ArcProblem, program: str, score: float | None) -> str:
    shown = "unscored" if score is None else f"{score:.3f} of 1"
    return (
        f"{_context(problem)}\n\nHere is a guess for the function (it scores {shown} on the "
        f"examples):\n{render_program(program)}\n\nWrite a variation of this guess that "
        f"could be the correct answer. {_REQUEST}"
    )


def opro_prompt(problem: ArcProblem, history: Sequence[tuple[str, float | None]]) -> str:
    shown = "\n\n".join(
        f"Program {i} (score {'invalid' if s is None else f'{s:.3f}'}):\n{render_program(p)}"
        for i, (p, s) in enumerate(history, 1)
    )
    return (
        f"{_context(problem)}\n\nPrevious programs, from worst to best, with their scores on "
        f"the examples (1 is all correct):\n\n{shown}\n\nWrite a new program that scores "
        f"higher than all of them. {_REQUEST}"
    )
