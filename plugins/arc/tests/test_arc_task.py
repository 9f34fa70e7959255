"""The ``arc`` task: contract suite, entry point, prompts, and real ARC tasks solved by
hand-written programs."""

from __future__ import annotations

import pickle

import pytest
from migrate_opt_arc import ArcTask, arc_small_ids, grid_text, load_problem, problem_html
from migrate_opt_arc.grids import COLOUR_NAMES

from migrate_opt import Record, create, registry
from migrate_opt.testing.contracts import TaskContract

FLIP = "```python\ndef transform(grid):\n    return grid[::-1]\n```"


class TestArcContract(TaskContract):
    @pytest.fixture
    def task(self, flip_task: ArcTask) -> ArcTask:
        return flip_task

    @pytest.fixture
    def good_completion(self) -> str:
        return f"The rule flips the grid.\n{FLIP}\nDone."


def test_found_through_the_entry_point() -> None:
    entry = registry().entry("task", "arc")
    assert entry.factory is ArcTask
    assert entry.distribution == "migrate-opt-arc"
    task = create("task", "arc", task_id="00576224", split="evaluation")
    assert task.problem.task_id == "00576224"


def test_cli_options_coerce_to_the_constructor() -> None:
    from migrate_opt.cli import parse_task_options

    options = parse_task_options(ArcTask, ["--task-id", "0c786b71", "--split", "evaluation",
                                           "--timeout", "0.5", "--workers", "1"])
    assert options == {"task_id": "0c786b71", "split": "evaluation", "timeout": 0.5,
                       "workers": 1}


def test_unknown_task_and_wrong_split_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="--split training"):
        load_problem("007bbfb7", split="evaluation")
    with pytest.raises(ValueError, match="split must be"):
        load_problem("00576224", split="test")


def test_arc_small_ships_54_evaluation_ids() -> None:
    ids = arc_small_ids()
    assert len(ids) == 54
    assert set(ids.values()) <= {"easy", "medium", "hard", "expert"}
    for task_id in list(ids)[:5]:
        assert load_problem(task_id, "evaluation").task_id == task_id


@pytest.mark.parametrize("task_id", ["00576224", "3b4c2228", "0c786b71"])
def test_prompt_shows_training_pairs_and_test_inputs_but_never_test_outputs(
        task_id: str) -> None:
    task = ArcTask(task_id)
    prompt = task.prompt()
    train_outputs = [p.output for p in task.problem.train]
    for pair in task.problem.train:
        assert grid_text(pair.input) in prompt and grid_text(pair.output) in prompt
    for pair in task.problem.test:
        assert grid_text(pair.input) in prompt
        if pair.output not in train_outputs:  # 3b4c2228 repeats a training output
            assert grid_text(pair.output) not in prompt  # type: ignore[arg-type]
    assert "transform(grid)" in prompt
    assert ("Test input 2" in prompt) == (len(task.problem.test) == 2)
    assert all(name in prompt for name in COLOUR_NAMES)


def test_neighborhood_and_opro_prompts_show_programs_and_scores(flip_task: ArcTask) -> None:
    program = flip_task.canonicalize(flip_task.parse(FLIP)[0])
    assert program is not None
    parent = Record(solution=program, score=0.25)
    ns = flip_task.neighborhood_prompt(parent)
    assert program in ns and "0.250" in ns and "variation" in ns
    opro = flip_task.opro_prompt([Record(solution="def transform(g):\n    return g", score=0.1),
                                  parent])
    assert opro.index("0.100") < opro.index("0.250") and program in opro


def test_partial_program_gets_partial_reward(flip_task: ArcTask) -> None:
    identity, flip = "def transform(g):\n    return g", "def transform(g):\n    return g[::-1]"
    ev_identity, ev_flip = flip_task.evaluate([identity, flip])
    # identity: pair 1 has 0 of 4 cells right, pair 2 has the middle cell of 3 right.
    assert ev_identity.score == pytest.approx((0 + 1 / 3) / 2)
    assert not ev_identity.solved and ev_identity.info["train_exact"] == 0
    assert ev_flip.score == 1.0 and ev_flip.solved
    assert ev_flip.info["test_outputs"] == [[[0, 1], [8, 9]], [[2], [1]]]


def test_failing_program_scores_zero_with_the_reason(flip_task: ArcTask) -> None:
    (ev,) = flip_task.evaluate(["def transform(g):\n    return 1 / 0"])
    assert ev.score == 0.0 and not ev.solved
    assert ev.info["error"].startswith("exception: ZeroDivisionError")


# Real ARC-AGI-1 tasks with hand-written correct programs.
REAL_TASKS = {
    ("evaluation", "00576224"): """
import numpy as np
def transform(grid):
    row = np.tile(grid, (1, 3))
    flipped = np.tile(grid[:, ::-1], (1, 3))
    return np.vstack([row, flipped, row])
""",
    ("evaluation", "3b4c2228"): """
def transform(grid):
    rows, cols = grid.shape
    squares = sum(
        1 for y in range(rows - 1) for x in range(cols - 1)
        if (grid[y:y + 2, x:x + 2] == 3).all())
    out = [[0] * 3 for _ in range(3)]
    for i in range(squares):
        out[i][i] = 1
    return out
""",
    ("training", "3c9b0459"): "import numpy as np\ndef transform(g):\n    return np.rot90(g, 2)",
    ("training", "74dd1130"): "def transform(g):\n    return g.T",
    ("training", "a416b8f3"): "import numpy as np\ndef transform(g):\n    return np.hstack([g, g])",
    ("training", "d511f180"): """
def transform(g):
    out = g.copy()
    out[g == 5], out[g == 8] = 8, 5
    return out
""",
    ("training", "25ff71a9"): """
import numpy as np
def transform(g):
    return np.roll(g, 1, axis=0)
""",
}


@pytest.mark.parametrize(("split", "task_id"), sorted(REAL_TASKS))
def test_real_task_with_correct_program_scores_one_and_solves(split: str, task_id: str) -> None:
    from migrate_opt_arc import predict

    task = ArcTask(task_id, split=split, workers=1)
    program = task.canonicalize(task.parse(f"```python\n{REAL_TASKS[(split, task_id)]}\n```")[0])
    assert program is not None
    (ev,) = task.evaluate([program])
    assert ev.score == 1.0 and ev.solved, ev.info
    record = Record(solution=program, score=ev.score, info=ev.info, solved=ev.solved, seq=0)
    prediction = predict(task, [record])
    assert prediction.pass1 == prediction.pass2 == 1.0
    assert len(prediction.tests) == len(task.problem.test)


def test_html_pictures_the_program_and_the_task(flip_task: ArcTask) -> None:
    page = flip_task.html("def transform(g):\n    return g[::-1]")
    assert page is not None and page.count("<svg") == 2 * 3 + 2 * 2
    assert "program (1.00)" in page
    assert flip_task.html("not a program") is None
    assert problem_html(flip_task.problem).count("<svg") == 2 * 2 + 2
    assert problem_html(flip_task.problem, show_test_outputs=True).count("<svg") == 8


def test_task_pickles_without_processes(flip_task: ArcTask) -> None:
    clone = pickle.loads(pickle.dumps(flip_task))
    assert clone.problem == flip_task.problem
    assert clone.sandbox.config == flip_task.sandbox.config
    assert clone.settings() == flip_task.settings()


def test_an_entry_function_named_otherwise_runs_as_transform(flip_task: ArcTask) -> None:
    completion = "Sure:\ndef transform_grid(grid):\n    return grid[::-1]\nIt flips the rows."
    program = flip_task.canonicalize(flip_task.parse(completion)[0])
    assert program is not None
    (ev,) = flip_task.evaluate([program])
    assert ev.score == 1.0 and ev.solved


def test_arc_declares_no_answer_grammar(flip_task: ArcTask) -> None:
    # A program in prose and a code fence: no grammar worth forcing on the model.
    assert flip_task.answer_grammar is None
