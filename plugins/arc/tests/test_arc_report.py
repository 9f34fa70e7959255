"""A report of an ARC study runs nothing from the file: not its programs, not under the
limits or isolation it names; the outputs stored at evaluation time are what a picture of a
record draws."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

import pytest
from migrate_opt_arc import ArcTask
from migrate_opt_arc.sandbox import Sandbox, SandboxConfig

from migrate_opt import Record, SQLiteDatabase, split_task_options
from migrate_opt.report import write_report

TASK_ID = "00576224"
IDENTITY = "def transform(g):\n    return g"
LOOPING = "def transform(g):\n    while True:\n        pass"
HOSTILE_OPTIONS = {"task_id": TASK_ID, "timeout": 3600.0, "isolation": "none",
                   "memory_mb": 10**6, "workers": 64, "batch_size": 1}
# Short enough that code which does run the stored programs fails this test quickly.
STORED_OPTIONS = {**HOSTILE_OPTIONS, "timeout": 0.5}


@pytest.fixture
def arc_study(tmp_path):
    """A study file whose stored options ask for no isolation and many workers, with a
    looping program ranked first and a real identity program (evaluated here) second."""
    task = ArcTask(TASK_ID, timeout=1.0, workers=1)
    (identity,) = task.evaluate([IDENTITY])
    path = tmp_path / "arc.db"
    db = SQLiteDatabase(str(path), "arc-study")
    db.set_settings({**task.settings(), "cli": {"task": "arc", "task_options": STORED_OPTIONS}})
    db.add([Record(LOOPING, 0.9, {"kinds": ["ok"]}, source="on_policy"),
            Record(IDENTITY, identity.score, identity.info, source="on_policy")])
    db.close()
    return path, task


@pytest.fixture
def sandbox_starts(monkeypatch):
    """Every batch a sandbox would start (the real method still runs after it is noted)."""
    started: list[list[str]] = []
    real = Sandbox.run

    def noting(self, programs, inputs):
        started.append(list(programs))
        return real(self, programs, inputs)

    monkeypatch.setattr(Sandbox, "run", noting)
    return started


def test_report_runs_no_program_from_the_file(arc_study, sandbox_starts, tmp_path) -> None:
    path, task = arc_study
    out = write_report(str(path), out_path=str(tmp_path / "arc.html"))
    assert sandbox_starts == []
    page = open(out, encoding="utf-8").read()
    assert "def transform" in page and Tags(page).counts["script"] == 0


def test_the_file_sets_no_sandbox_limit_or_isolation() -> None:
    data, environment = split_task_options(ArcTask, HOSTILE_OPTIONS)
    assert data == {"task_id": TASK_ID}
    assert set(environment) == {"timeout", "isolation", "memory_mb", "workers", "batch_size"}
    rebuilt = ArcTask(**data)
    assert rebuilt.problem.task_id == TASK_ID and rebuilt.sandbox.config == SandboxConfig()


class Tags(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.feed(text)

    def handle_starttag(self, tag, attrs) -> None:
        is_chart = "chart" in (dict(attrs).get("class") or "")
        self.counts["grid" if tag == "svg" and not is_chart else tag] += 1


def test_stored_outputs_and_kinds_are_checked_before_drawing(flip_task: ArcTask) -> None:
    script = "<script>alert(1)</script>"
    n_train, n_test = len(flip_task.problem.train), len(flip_task.problem.test)
    info = {"kinds": [script] * (n_train + n_test), "train_outputs": [[[script]]] * n_train,
            "test_outputs": [[[1, 2], [3, 4]]] * n_test}
    page = flip_task.record_html(Record(IDENTITY, 0.5, info))
    assert page is not None and "<script" not in page and "program: unknown" in page
    tags = Tags(page).counts
    assert tags["script"] == 0 and tags["grid"] == 3 * n_train + 2 * n_test
    # Nothing stored, nothing drawn (the report then shows the program as text).
    assert flip_task.record_html(Record(IDENTITY, 0.5, {})) is None
