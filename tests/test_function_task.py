"""Your own function as a task: ask/tell with no objective, ``run`` with one, minimized
objectives shown as given, readable records and groups, one open group at a time."""

from __future__ import annotations

import random

import pytest

import migrate_opt
from migrate_opt import AskError, Evaluation, FunctionTask, SQLiteDatabase, TaskError, run
from migrate_opt.cli import main
from migrate_opt.report.compare import study_rows
from migrate_opt.report.html import render_report
from migrate_opt.testing import ScriptedPolicy

PROMPT = "Pick a whole number between 1 and 1000. Answer with the number only."


def number(prompt: str, rng: random.Random) -> str:
    return str(rng.randrange(1, 1000))


def distance(s: str) -> float:
    return abs(int(s) - 437)


def make(task, **kw):  # type: ignore[no-untyped-def]
    return migrate_opt.create("optimizer", "sample", task, group_size=8, train=False,
                              policy=ScriptedPolicy(fn=number), seed=0, **kw)


def test_ask_tell_needs_no_objective():
    task = FunctionTask(PROMPT, migrate_opt.function_task.numbers, direction="minimize")
    opt = make(task)
    for _ in range(3):
        group = opt.ask()
        opt.tell(group, [distance(s) for s in group.solutions])
    told = sorted(distance(r.solution) for r in opt.database.records())
    assert [r.objective for r in opt.best(3)] == told[:3]
    assert all(r.score == -r.objective for r in opt.best(3))  # stored higher-is-better
    with pytest.raises(TaskError, match="objective="):
        task.evaluate(["5"])


def test_run_minimizes_and_stops_when_solved():
    target = FunctionTask(PROMPT, objective=distance, direction="minimize", optimum=0)
    result = run(make(target), budget=2000, stop_when_solved=True, progress=False)
    assert result.stopped == "solved" and result.best[0].solution == "437"
    assert result.best[0].objective == 0 and "(solved)" in str(result.best[0])


def test_objective_may_return_none_numpy_or_evaluation():
    np = pytest.importorskip("numpy")
    answers = {"1": None, "2": np.float32(2.5), "3": Evaluation(3.0, {"why": "given"})}
    task = FunctionTask(PROMPT, objective=answers.__getitem__)
    scores = [e.score for e in task.evaluate(["1", "2", "3"])]
    assert scores == [None, 2.5, 3.0]
    with pytest.raises(TaskError, match="number"):
        FunctionTask(PROMPT, objective=lambda s: "high").evaluate(["1"])


@pytest.mark.parametrize("bad, message", [
    ({"prompt": ""}, "prompt"), ({"direction": "down"}, "direction"),
    ({"parse": "lines"}, "parse"), ({"objective": 3}, "objective"),
])
def test_bad_arguments_are_one_line_errors(bad, message):
    kw = {"prompt": PROMPT, **bad}
    with pytest.raises(TaskError, match=message):
        FunctionTask(**kw)


def test_minimized_prompts_show_the_objective_and_ask_for_lower():
    task = FunctionTask(PROMPT, direction="minimize")
    opt = make(task)
    group = opt.ask()
    opt.tell(group, [distance(s) for s in group.solutions])
    parent = opt.database.top(1)[0]
    prompt = task.neighborhood_prompt(parent)
    assert f"(score {distance(parent.solution):.3f})" in prompt and "scores lower" in prompt


def test_records_and_groups_read_as_text(capsys):
    opt = make(FunctionTask(PROMPT, direction="minimize"))
    group = opt.ask()
    assert str(group).startswith(f"group 0: 8 completions, {len(group.pending)} new")
    opt.tell(group, [distance(s) for s in group.solutions])
    best = opt.best(2)
    print(best)
    out = capsys.readouterr().out
    assert out.count("Record(") == 2 and "objective=" in out and "info" not in out
    assert len(out) < 200
    assert str(best[0]) == f"{best[0].solution}: {distance(best[0].solution):g}"


def test_a_second_ask_says_what_to_do_and_an_interrupted_run_frees_the_group():
    def broken(s: str) -> float:
        raise KeyboardInterrupt  # Ctrl-C while the black box runs

    task = FunctionTask(PROMPT, objective=broken)
    opt = make(task)
    opt.ask()
    with pytest.raises(AskError, match=r"tell it first .* opt\.discard\(group\)"):
        opt.ask()
    opt2 = make(task)
    with pytest.raises(KeyboardInterrupt):
        run(opt2, budget=8, progress=False)
    task.objective = distance  # the same optimizer asks again
    assert run(opt2, budget=8, progress=False).evaluations == 8


def test_show_and_report_give_the_objective_as_told(tmp_path, capsys):
    path = str(tmp_path / "min.db")
    db = SQLiteDatabase(path, "min")
    opt = make(FunctionTask(PROMPT, objective=distance, direction="minimize"), database=db)
    run(opt, budget=16, progress=False)
    best = opt.best(1)[0]
    page = render_report(db)
    db.close()
    assert f"score {best.objective:.4f}, found at evaluation" in page  # the summary
    assert best.objective > 0 and f"{-best.objective:.4f}" not in page
    row = study_rows([path])[0]  # compare
    assert row.best == best.objective and all(y >= best.objective for _, y in row.curve)
    assert main(["show", path]) == 0
    out = capsys.readouterr().out
    assert "direction: \"minimize\"" in out
    learning = out[out.index("learning"):out.index("rank")]
    assert "-" not in "".join(line.split()[1] for line in learning.splitlines()[3:])
    row = out[out.index("rank"):].splitlines()[2]
    assert row.split()[:2] == ["1", f"{best.objective:.4f}"]
