"""The HTML report and the comparison page: the story they tell from storage alone (never
running the task's code), the run log they read, the CLI commands, and a real render in
headless Chromium (skipped, with the reason, where Chromium is not installed)."""

import json
import re
import shutil
import sqlite3
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from migrate_opt import ConfigError, SQLiteDatabase, create, hookimpl, run
from migrate_opt.cli import main
from migrate_opt.loop import RUNS_KEY
from migrate_opt.registry import register_plugin, unregister_plugin
from migrate_opt.report import write_report
from migrate_opt.report.compare import study_rows, write_compare
from migrate_opt.report.html import best_so_far
from migrate_opt.testing import ScriptedPolicy, ToyTask

METRICS = [{"loss": 0.5, "reward_mean": 0.1, "reward_std": 0.2, "kl": 0.0,
            "clip_fraction": 0.1}, {"loss": 0.3, "reward_mean": 0.2, "reward_std": 0.1,
                                    "kl": 0.01, "clip_fraction": 0.05}]


class TrapTask(ToyTask):
    """A toy task whose code leaves a mark when it runs (built, drawn): the report must
    never run it."""

    name = "trap-toy"
    marker: Path | None = None

    def __init__(self, *args, **kwargs):
        if TrapTask.marker is not None:
            TrapTask.marker.write_text("built")
        super().__init__(*args, **kwargs)

    def html(self, solution):
        if TrapTask.marker is not None:
            TrapTask.marker.write_text("drawn")
        return "<svg class=trap></svg>"


class TrapPlugin:
    @hookimpl
    def register_tasks(self, register):
        register("trap-toy", TrapTask, description="toy that marks when it runs (tests)")


def make_study(path, task=None, study="toy-study", budget=60, invalid_every=7):
    """A small finished study: random guesses, every 7th evaluation reported invalid,
    metrics logged for two iterations."""
    db = SQLiteDatabase(str(path), study)
    policy = ScriptedPolicy(fn=lambda p, rng: f'["{rng.randrange(10_000):04d}"]')
    opt = create("optimizer", "migrate", task or ToyTask(), policy=policy, group_size=6,
                 train=False, database=db, seed=3, budget=budget)
    n = 0
    while not opt.exhausted:
        group = opt.ask()
        results = []
        for ev in opt.task.evaluate(group.solutions):
            n += 1
            results.append(None if n % invalid_every == 0 else ev)
        opt.tell(group, results)
    db.log_metrics(0, METRICS)
    db.log_metrics(1, METRICS)
    return db


class Page(HTMLParser):
    """Collects tags, table rows and texts of a report."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.rows, self.texts, self.attrs = [], {}, [], []
        self._table = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(v for _, v in attrs if v)
        if tag == "table":
            self._table = dict(attrs).get("class", "")
            self.rows.setdefault(self._table, 0)
        if tag == "tr" and self._table is not None:
            self.rows[self._table] += 1

    def handle_data(self, data):
        self.texts.append(data)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real study as a user makes one: `migrate-opt run toy --model tiny-random`, which
    samples, trains and logs the run (seconds)."""
    pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("tiny") / "toy.db"
    assert main(["run", "toy", "--model", "tiny-random", "--budget", "30", "--group-size",
                 "6", "--storage", str(path), "--study", "toy-migrate-s0",
                 "--no-progress"]) == 0
    return path


@pytest.fixture
def ga_study(tmp_path):
    """A genetic algorithm's study (no model, no training), run through ``run``."""
    path = tmp_path / "ga.db"
    opt = create("optimizer", "ga", ToyTask(), database=SQLiteDatabase(str(path), "ga"),
                 budget=40, seed=1, population_size=8)
    run(opt, progress=False)
    opt.database.close()
    return path


def sections(text):
    return re.findall(r"<h2>(.*?)</h2>", text)


def test_report_tells_the_story_of_a_model_run(tiny_run, tmp_path):
    text = Path(write_report(str(tiny_run), None, str(tmp_path / "r.html"))).read_text()
    db = SQLiteDatabase(str(tiny_run), "toy-migrate-s0", readonly=True)
    # the summary comes first, the settings last and folded
    assert sections(text)[:3] == ["Summary", "Best score so far", "Best 5 solutions"]
    assert "What the model wrote over time" in sections(text)
    assert "What training did" in sections(text)
    assert text.index("<h2>Summary</h2>") < text.index("<details class=settings-fold>")
    assert text.rstrip().endswith("</details></section></body></html>")
    summary = text[text.index("<h2>Summary</h2>"):text.index("<h2>Best score so far")]
    target = db.settings()["task_settings"]["target"]
    assert f"toy (target={target})" in summary and "migrate with tiny-random, training" in summary
    assert "30 of a budget of 30" in summary and "the budget was spent" in summary
    log = db.settings()[RUNS_KEY][-1]
    assert log["stopped"] == "budget" and log["evaluations"] == 30
    for part in ("generate", "train", "evaluate"):
        assert re.search(rf"{part} [0-9.]+ (s|min) \(\d+%\)", summary), part
    best = db.top(1)[0]
    assert f"<code>{best.solution}</code>, score {best.score:.4f}" in summary
    # the model's writing, per stage, with what became of it
    wrote = text[text.index("What the model wrote"):text.index("<h2>What training did")]
    assert wrote.count("<h3>iteration ") >= 2
    sampled = [m for _, ms in db.groups() for m in ms if m.get("token_ids")]
    assert any(m["completion"].strip() and _shown(m["completion"]) in wrote for m in sampled)
    # training in words and charts; the raw GRPO metrics folded
    trained = text[text.index("<h2>What training did"):]
    assert re.search(r"New solutions per group (fell|rose|stayed at)", trained)
    assert "The KL to the base model went from" in trained
    assert "<summary>every training metric per GRPO step</summary>" in trained
    # no placeholders for what cannot come
    assert "no data yet" not in text and "no on-policy members" not in text


def _shown(completion):
    from html import escape

    from migrate_opt.report.html import printable
    return escape(printable(completion[:40]))


def test_top_solutions_name_their_parent_and_completion(tmp_path):
    """A neighbourhood member's parent (stored in its tags) and completion are shown."""
    db = SQLiteDatabase(str(tmp_path / "n.db"), "n")
    guesses = iter(['["1000"]', '["2000"]', '["4000"]', '["4200"]', '["4210"]', '["4213"]'])
    opt = create("optimizer", "migrate", ToyTask(), database=db, budget=6, train=False,
                 policy=ScriptedPolicy(fn=lambda p, rng: next(guesses)),
                 group={"neighborhood": 2})
    run(opt, progress=False)
    best = db.top(1)[0]
    assert best.tags.get("parent")
    text = Path(write_report(str(tmp_path / "n.db"), None, str(tmp_path / "r.html"))
                ).read_text()
    top = text[text.index("<table class=top>"):]
    top = top[:top.index("</table>")]
    parent = db.get(best.tags["parent"])
    assert f"<code>{parent.solution}</code> (score {parent.score:.4f})" in top
    assert "<th>parent</th>" in top and "stop_when_solved" not in top


def test_a_genetic_algorithm_study_leaves_out_what_cannot_apply(ga_study, tmp_path):
    text = Path(write_report(str(ga_study), None, str(tmp_path / "r.html"))).read_text()
    heads = sections(text)
    assert "What the model wrote over time" not in heads and "What training did" not in heads
    assert "What each group found" in heads
    assert "on-policy" not in text and "KL" not in text and "no data yet" not in text
    assert "<th>completion that proposed it</th>" not in text and "<th>parent</th>" not in text
    assert "Why solutions were invalid" not in heads  # the toy task never fails
    assert "the budget was spent" in text


def test_a_run_stopped_short_is_flagged_and_an_interrupt_is_logged(tmp_path):
    db = SQLiteDatabase(str(tmp_path / "s.db"), "short")
    opt = create("optimizer", "ga", ToyTask(), database=db, budget=40, population_size=8)
    run(opt, iterations=1, progress=False)

    def interrupt(*_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(opt, progress=False, callbacks=[interrupt])
    runs = db.settings()[RUNS_KEY]
    assert [r["stopped"] for r in runs] == ["iterations", "interrupted"]
    assert runs[1]["evaluations_before"] == runs[0]["evaluations"] == 8
    text = Path(write_report(str(tmp_path / "s.db"), None, str(tmp_path / "r.html"))
                ).read_text()
    assert "it was interrupted (Ctrl-C)" in text and "(short of the budget)" in text
    assert "over 2 runs" in text


def test_stored_values_are_escaped_and_the_task_code_never_runs(tmp_path):
    TrapTask.marker = tmp_path / "ran"
    plugin = TrapPlugin()
    register_plugin(plugin)
    try:
        db = SQLiteDatabase(str(tmp_path / "t.db"), "<b>study</b>")
        task = ToyTask()
        opt = create("optimizer", "sample", task, database=db, budget=3,
                     policy=ScriptedPolicy(['["1234"]', '["5678"]', '["9999"]']),
                     group_size=3)
        run(opt, progress=False)
        TrapTask.marker.unlink(missing_ok=True)
        evil = '<script>alert(1)</script>'
        db.set_settings({**db.settings(), "task": "trap-toy",
                         "task_settings": {"target": evil}, "model": evil})
        conn = sqlite3.connect(str(tmp_path / "t.db"))
        conn.execute("UPDATE records SET completion=?, source=?", (evil, evil))
        conn.commit()
        conn.close()
        text = Path(write_report(str(tmp_path / "t.db"), None, str(tmp_path / "r.html"))
                    ).read_text()
    finally:
        unregister_plugin(plugin)
        TrapTask.marker = None
    assert "<script" not in text and "&lt;script&gt;" in text
    assert "<b>study</b>" not in text and "&lt;b&gt;study&lt;/b&gt;" in text
    assert not (tmp_path / "ran").exists(), "the report ran the task's code"


@pytest.mark.parametrize("sql", ["UPDATE studies SET settings='[1, 2]'",
                                 "UPDATE records SET score='high' WHERE seq=1",
                                 "UPDATE groups SET members='[\"x\"]'"])
def test_a_crafted_study_is_one_line_for_report_and_compare(tmp_path, capsys, sql):
    make_study(tmp_path / "s.db", budget=12).close()
    conn = sqlite3.connect(str(tmp_path / "s.db"))
    conn.execute(sql)
    conn.commit()
    conn.close()
    for command in (["report", str(tmp_path / "s.db"), "-o", str(tmp_path / "r.html")],
                    ["compare", str(tmp_path / "s.db"), "-o", str(tmp_path / "c.html")]):
        code = main(command)
        err = capsys.readouterr().err
        if code == 0:  # what compare does not read may stay broken
            assert command[0] == "compare" and "groups" in sql
            continue
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "holds data this migrate-opt cannot read" in err and "Traceback" not in err


def test_best_so_far_is_the_running_maximum(tmp_path):
    db = make_study(tmp_path / "s.db")
    records = db.records()
    curve = best_so_far(records)
    ys = [y for _, y in curve]
    assert ys == sorted(ys) and ys[-1] == db.top(1)[0].score
    assert curve[-1][0] == len(records)
    for x, y in curve[:-1]:  # every step is where that score was first reached
        running = max(r.score for r in records[: int(x)] if r.score is not None)
        assert running == y and records[int(x) - 1].score == y


def test_sources_and_invalid_reasons_when_they_apply(tmp_path):
    make_study(tmp_path / "s.db")
    text = Path(write_report(str(tmp_path / "s.db"), None, str(tmp_path / "r.html"))
                ).read_text()
    for source in ("on_policy", "greedy", "neighborhood"):
        assert f"<td>{source}</td>" in text
    assert "reported invalid" in text  # the reasons table
    assert "What training did" in sections(text)  # metrics were logged
    assert "Stopped because" not in text  # driven by ask/tell by hand: no run log


def test_errors_name_the_studies(tmp_path):
    with pytest.raises(ConfigError, match="no such storage file"):
        write_report(str(tmp_path / "missing.db"), None, str(tmp_path / "r.html"))
    make_study(tmp_path / "s.db", study="a", budget=6)
    make_study(tmp_path / "s.db", study="b", budget=6)
    with pytest.raises(ConfigError, match="holds 2 studies; pick one with --study: a, b"):
        write_report(str(tmp_path / "s.db"), None, str(tmp_path / "r.html"))
    with pytest.raises(ConfigError, match="no study 'c'"):
        write_report(str(tmp_path / "s.db"), "c", str(tmp_path / "r.html"))


def test_empty_study_renders(tmp_path):
    SQLiteDatabase(str(tmp_path / "s.db"), "empty")
    text = Path(write_report(str(tmp_path / "s.db"), "empty", str(tmp_path / "r.html"))
                ).read_text()
    assert "no valid solution yet" in text
    assert sections(text) == ["Summary", "Best score so far", "Best 5 solutions"]


def test_cli_report(tmp_path, capsys):
    make_study(tmp_path / "s.db")
    out = tmp_path / "page.html"
    assert main(["report", str(tmp_path / "s.db"), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out and "Best 5 solutions" in out.read_text()
    assert main(["report", str(tmp_path / "s.db"), "--study", "zzz", "-o", str(out)]) == 2
    assert "no study 'zzz'" in capsys.readouterr().err


# -- compare ------------------------------------------------------------------------------
def test_compare_puts_studies_side_by_side_and_flags_short_runs(tmp_path, ga_study, capsys):
    other = tmp_path / "other.db"
    for study, iterations in (("full", None), ("short", 1)):
        opt = create("optimizer", "random-search", ToyTask(), seed=2, budget=40,
                     database=SQLiteDatabase(str(other), study))
        run(opt, iterations=iterations, progress=False)
        opt.database.close()
    out = tmp_path / "cmp.html"
    assert main(["compare", str(ga_study), f"{other}:short", str(other), "-o", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in printed[2:5]}
    assert set(rows) == {"ga.db:ga", "other.db:short", "other.db:full"}  # short listed once
    assert "40 of 40" in rows["ga.db:ga"] and "stopped short (iterations)" in rows[
        "other.db:short"]
    assert "stopped short" not in rows["other.db:full"]
    assert printed[-1] == str(out)
    text = out.read_text()
    assert text.count('<path class="series"') == 3
    assert text.count('stroke-dasharray') == 1  # the short run is dashed
    assert "1 of 3 studies stopped short of their budget" in text
    assert "different tasks" not in text
    measured = {r.label: r for r in study_rows([str(ga_study), str(other)])}
    ga = SQLiteDatabase(str(ga_study), "ga", readonly=True)
    assert measured["ga.db:ga"].best == ga.top(1)[0].score
    assert measured["other.db:short"].evaluations < 40


def test_compare_errors_are_one_line(tmp_path, ga_study, capsys):
    assert main(["compare", str(tmp_path / "none.db")]) == 2
    assert "no such storage file" in capsys.readouterr().err
    assert main(["compare", f"{ga_study}:nope"]) == 2
    assert "no study 'nope'" in capsys.readouterr().err
    path, rows = write_compare([str(ga_study)])
    assert path == str(tmp_path / "ga-compare.html") and len(rows) == 1


# -- a real browser -------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install -y chromium)")

PROBE = """<script>
const box = e => e.getBoundingClientRect();
const charts = [...document.querySelectorAll('svg.chart')].map(s => ({
  label: s.getAttribute('aria-label') || '', width: box(s).width, height: box(s).height,
  shown: s.checkVisibility(),
  drawn: [...s.querySelectorAll('path.series, circle, rect.box')]
           .filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length}));
const tables = [...document.querySelectorAll('table')].map(t => ({
  cls: t.className, rows: t.rows.length, height: box(t).height, shown: t.checkVisibility()}));
const pre = document.createElement('pre');
pre.id = 'probe';
pre.textContent = JSON.stringify({charts, tables});
document.body.appendChild(pre);
</script>"""


def render_in_chromium(page: Path) -> dict:
    """Open ``page`` (plus a probe script measuring the laid-out charts and tables) in
    headless Chromium and return what the probe measured."""
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--dump-dom", probed.as_uri()],
            capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.S)
    assert match, f"chromium printed no probe result: {out.stderr[-2000:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@needs_chromium
def test_chromium_renders_the_story(tiny_run, tmp_path):
    page = Path(write_report(str(tiny_run), None, str(tmp_path / "r.html")))
    seen = render_in_chromium(page)
    visible = {c["label"].split(":")[0]: c for c in seen["charts"] if c["shown"]}
    for name in ("Best score so far (dots", "where the wall time went",
                 "new solutions per group", "share of repeats", "KL to base (per token)"):
        chart = next(c for label, c in visible.items() if label.startswith(name))
        assert chart["width"] > 200 and chart["height"] > 50, name
        assert chart["drawn"] > 0, f"nothing drawn in chart {name!r}"
    # the GRPO metrics per step and the settings are folded away until opened
    hidden = [c for c in seen["charts"] if not c["shown"]]
    assert {c["label"].split(":")[0] for c in hidden} >= {"loss", "kl"}
    tables = {t["cls"]: t for t in seen["tables"]}
    assert tables["top"]["rows"] == 6 and tables["top"]["height"] > 100
    assert not tables["settings"]["shown"] and tables["settings"]["rows"] >= 5
    assert tables["wrote"]["shown"] and tables["wrote"]["height"] > 50


@needs_chromium
def test_chromium_renders_the_comparison(tiny_run, ga_study, tmp_path):
    out = tmp_path / "cmp.html"
    assert main(["compare", str(tiny_run), str(ga_study), "-o", str(out)]) == 0
    seen = render_in_chromium(out)
    (chart,) = seen["charts"]
    assert chart["width"] > 600 and chart["drawn"] == 2  # one curve per study
    tables = {t["cls"]: t for t in seen["tables"]}
    assert tables["compare"]["rows"] == 3 and tables["compare"]["height"] > 50


def test_live_view_shows_the_best_score_and_solution(capsys):
    """The progress bar of `run` names the current best, and says when it is solved."""
    from migrate_opt import run

    guesses = ['["0000"]', '["4000"]', '["4200"]', '["4213"]', '["4211"]']
    opt = create("optimizer", "sample", ToyTask(), policy=ScriptedPolicy(guesses), group_size=1)
    run(opt, budget=5, progress=True)
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "best=1.0000" in last and "of=4213 (solved)" in last and "5/5" in last


def test_default_output_path_is_next_to_the_storage(tmp_path):
    make_study(tmp_path / "s.db", study="a/b c", budget=6)
    out = write_report(str(tmp_path / "s.db"))
    assert out == str(tmp_path / "s-a_b_c.html") and Path(out).exists()


@pytest.mark.slow
def test_report_of_a_real_grpo_run(tmp_path):
    """The metrics the GRPO updater really logs get their charts."""
    pytest.importorskip("torch")
    from migrate_opt import run
    from migrate_opt.policy import load_policy

    db = SQLiteDatabase(str(tmp_path / "g.db"), "grpo")
    opt = create("optimizer", "migrate", ToyTask(), policy=load_policy("tiny-random"), group_size=4,
                  database=db, seed=0)
    run(opt, iterations=3, progress=False)
    assert db.metrics(), "the run logged no training metrics"
    text = Path(write_report(str(tmp_path / "g.db"), None, str(tmp_path / "r.html"))).read_text()
    for name in ("loss", "reward_mean", "reward_std", "kl", "clip_fraction"):
        assert f'aria-label="{name}: {name} against optimizer step"' in text
