"""The HTML report: content, task pictures, errors, the CLI command, and a real render in
headless Chromium (skipped, with the reason, where Chromium is not installed)."""

import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from migrate_opt import ConfigError, SQLiteDatabase, create, hookimpl, split_task_options
from migrate_opt.cli import main
from migrate_opt.registry import register_plugin, unregister_plugin
from migrate_opt.report import rebuild_task, write_report
from migrate_opt.report.html import best_so_far
from migrate_opt.testing import ScriptedPolicy, ToyTask

METRICS = [{"loss": 0.5, "reward_mean": 0.1, "reward_std": 0.2, "kl": 0.0,
            "clip_fraction": 0.1}, {"loss": 0.3, "reward_mean": 0.2, "reward_std": 0.1,
                                    "kl": 0.01, "clip_fraction": 0.05}]


class PicturedToy(ToyTask):
    """A toy task with a picture per solution (a coloured bar per digit), or an error for
    solutions starting with 9, to check the report falls back to text."""

    name = "pictured-toy"

    def html(self, solution):
        if solution.startswith("9"):
            raise RuntimeError("cannot draw nines")
        bars = "".join(f'<rect x="{i * 12}" y="{20 - 2 * int(d)}" width="10" '
                       f'height="{2 * int(d)}" fill="#c33"/>' for i, d in enumerate(solution))
        return f'<svg class="digits" width="48" height="20">{bars}</svg>'


class PicturePlugin:
    @hookimpl
    def register_tasks(self, register):
        register("pictured-toy", PicturedToy, description="toy with pictures (tests)")


@pytest.fixture
def pictured():
    plugin = PicturePlugin()
    register_plugin(plugin)
    yield
    unregister_plugin(plugin)


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


def test_report_has_every_section_and_is_self_contained(tmp_path):
    db = make_study(tmp_path / "s.db")
    out = write_report(str(tmp_path / "s.db"), None, str(tmp_path / "r.html"))
    text = Path(out).read_text()
    page = Page(text)
    for heading in ("Settings", "Best score so far", "Scores per sampler source",
                    "Is the model learning?", "Training (GRPO) metrics per step",
                    "Top 10 solutions",
                    "Why solutions were invalid"):
        assert heading in page.texts
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    external = [a for a in page.attrs if re.match(r"(https?:)?//", a)
                and a != "http://www.w3.org/2000/svg"]
    assert not external
    assert page.rows["top"] == 11  # header + 10 solutions
    best = db.top(1)[0]
    assert f"{best.score:.4f}" in text and best.solution in text
    # one chart per GRPO metric, the best-so-far curve, the per-source chart, and the
    # on-policy reward, KL and new solutions per iteration
    assert text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2 + 5 + 3
    assert "new solutions per group" in text
    for source in ("on_policy", "greedy", "neighborhood"):
        assert f"<td>{source}</td>" in text
    assert "reported invalid" in text  # the reasons table


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


def test_task_pictures_and_text_fallback(tmp_path, pictured):
    make_study(tmp_path / "s.db", task=PicturedToy(target="9999"), budget=200)
    text = Path(write_report(str(tmp_path / "s.db"), "toy-study", str(tmp_path / "r.html"))
                ).read_text()
    assert '<svg class="digits"' in text
    top = SQLiteDatabase(str(tmp_path / "s.db"), "toy-study").top(10)
    nines = [r for r in top if r.solution.startswith("9")]
    assert nines, "the study should have found solutions starting with 9"
    assert text.count('<svg class="digits"') == 10 - len(nines)


def test_task_that_cannot_be_rebuilt_is_shown_as_text(tmp_path):
    task, why = rebuild_task({"task": "no-such-task"})
    assert task is None and "could not be rebuilt" in why
    db = make_study(tmp_path / "s.db")
    db.set_settings({**db.settings(), "task": "no-such-task"})
    text = Path(write_report(str(tmp_path / "s.db"), None, str(tmp_path / "r.html"))).read_text()
    assert "could not be rebuilt" in text and db.top(1)[0].solution in text


def test_task_is_rebuilt_from_its_options(pictured):
    task, why = rebuild_task({"task": "pictured-toy", "target": "123", "seed": 5,
                              "optimizer": "migrate", "budget": 3})
    assert why == "" and isinstance(task, PicturedToy) and task.target == "123"
    task, _ = rebuild_task({"task": "pictured-toy", "target": "99",
                            "cli": {"task_options": {"target": "55"}}})
    assert task.target == "55"  # the CLI's exact options win


class SandboxedToy(PicturedToy):
    """A pictured toy whose ``length`` stands for a machine setting (like a time limit)."""

    environment_options = frozenset({"length"})


def test_split_task_options_keeps_environment_options_apart():
    data, environment = split_task_options(SandboxedToy, {"target": "12", "length": 9})
    assert (data, environment) == ({"target": "12"}, {"length": 9})

    def factory(target="1"):
        return ToyTask(target)

    assert split_task_options(factory, {"target": "3"}) == ({"target": "3"}, {})


def test_a_rebuilt_task_gets_no_environment_option_from_the_file(pictured):
    register_plugin(plugin := SandboxedPlugin())
    try:
        task, why = rebuild_task({"task": "sandboxed-toy", "cli": {
            "task_options": {"target_seed": 1, "length": 9}}})
    finally:
        unregister_plugin(plugin)
    assert isinstance(task, SandboxedToy), why
    assert task.target == ToyTask(target_seed=1).target  # four digits, not the file's nine


class SandboxedPlugin:
    @hookimpl
    def register_tasks(self, register):
        register("sandboxed-toy", SandboxedToy, description="toy with an environment option")


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
    assert "no valid solution yet" in text and "no data yet" in text


def test_cli_report(tmp_path, capsys):
    make_study(tmp_path / "s.db")
    out = tmp_path / "page.html"
    assert main(["report", str(tmp_path / "s.db"), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out and "Top 10 solutions" in out.read_text()
    assert main(["report", str(tmp_path / "s.db"), "--study", "zzz", "-o", str(out)]) == 2
    assert "no study 'zzz'" in capsys.readouterr().err


# -- a real browser -------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install -y chromium)")

PROBE = """<script>
const box = e => e.getBoundingClientRect();
const charts = [...document.querySelectorAll('svg.chart')].map(s => ({
  label: s.getAttribute('aria-label') || '', width: box(s).width, height: box(s).height,
  drawn: [...s.querySelectorAll('path.series, circle, rect.box')]
           .filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length}));
const tables = [...document.querySelectorAll('table')].map(t => ({
  cls: t.className, rows: t.rows.length, height: box(t).height}));
const pictures = [...document.querySelectorAll('.picture svg')].filter(
  s => box(s).width > 0).length;
const pre = document.createElement('pre');
pre.id = 'probe';
pre.textContent = JSON.stringify({charts, tables, pictures});
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
def test_chromium_renders_charts_tables_and_pictures(tmp_path, pictured):
    db = make_study(tmp_path / "s.db", task=PicturedToy(target="1234"), budget=80)
    drawable = [r for r in db.top(10) if not r.solution.startswith("9")]
    page = Path(write_report(str(tmp_path / "s.db"), None, str(tmp_path / "r.html")))
    seen = render_in_chromium(page)
    charts = {c["label"].split(":")[0]: c for c in seen["charts"]}
    assert len(seen["charts"]) == 10
    for name in ("Best score so far (dots", "Reward of every group member, per source",
                 "on-policy mean reward", "KL to base (per token)", "new solutions per group",
                 "loss", "reward_mean", "reward_std", "kl", "clip_fraction"):
        chart = next(c for label, c in charts.items() if label.startswith(name))
        assert chart["width"] > 200 and chart["height"] > 150
        assert chart["drawn"] > 0, f"nothing drawn in chart {name!r}"
    tables = {t["cls"]: t for t in seen["tables"]}
    assert tables["top"]["rows"] == 11 and tables["top"]["height"] > 100
    assert tables["settings"]["rows"] >= 5 and tables["sources"]["rows"] == 4
    assert seen["pictures"] == len(drawable) > 0


def test_live_view_shows_the_best_score_and_solution(capsys):
    """The progress bar of `run` names the current best, and says when it is solved."""
    from migrate_opt import run

    guesses = ['["0000"]', '["4000"]', '["4200"]', '["4213"]', '["4211"]']
    opt = create("optimizer", "sample", ToyTask(), policy=ScriptedPolicy(guesses), group_size=1)
    run(opt, budget=5, progress=True)
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "best=1.0000" in last and "of=4213 (solved)" in last and "5/5" in last


def test_molecule_tasks_get_drawings(tmp_path):
    """A plugin task rebuilt from the study's settings draws its solutions (RDKit SVG)."""
    from migrate_opt.registry import registry

    if "qed" not in registry().names("task"):
        pytest.skip("the molecules plugin is not installed (pip install -e plugins/molecules)")
    smiles = ['["CCO"]', '["c1ccccc1O"]', '["CC(=O)Nc1ccc(O)cc1"]', '["CCN(CC)CC"]']
    db = SQLiteDatabase(str(tmp_path / "m.db"), "mol")
    opt = create("optimizer", "sample", create("task", "qed"), policy=ScriptedPolicy(smiles),
                  group_size=4, database=db, budget=4)
    group = opt.ask()
    opt.tell(group, opt.task.evaluate(group.solutions))
    text = Path(write_report(str(tmp_path / "m.db"), None, str(tmp_path / "r.html"))).read_text()
    pictures = re.findall(r'<div class="picture">\s*(<\?xml[^>]*>\s*)?<svg', text)
    assert len(pictures) == 4 and "could not be rebuilt" not in text


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


XSS = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def _tamper(path, study):
    """Puts ``XSS`` in every stored field the report shows, as a crafted file would."""
    import sqlite3

    from migrate_opt.adaptive_mix import SLOT_TAG

    con = sqlite3.connect(path)
    with con:
        (settings,) = con.execute("SELECT settings FROM studies WHERE name=?", (study,)).fetchone()
        settings = {**json.loads(settings), "optimizer": XSS, XSS: XSS, "budget": XSS}
        settings["cli"] = {**settings.get("cli", {}), "note": XSS}
        con.execute("UPDATE studies SET settings=? WHERE name=?", (json.dumps(settings), study))
        con.execute("UPDATE records SET source=?, iteration=?, solution=solution || ?",
                    (XSS, XSS, XSS))
        con.execute("UPDATE records SET info=? WHERE score IS NULL",
                    (json.dumps({"error": XSS}),))
        groups = [(it, json.loads(m)) for it, m in con.execute("SELECT iteration, members "
                                                               "FROM groups")]
        for it, members in groups:
            for m in members:
                m["source"], m["tags"] = XSS, {**(m.get("tags") or {}), SLOT_TAG: XSS}
            con.execute("UPDATE groups SET members=? WHERE iteration=?",
                        (json.dumps(members), it))
        con.execute("UPDATE metrics SET metrics=?", (json.dumps({XSS: 1.0, "loss": 0.1}),))
    con.close()


def test_every_stored_value_is_escaped(tmp_path):
    path = tmp_path / "xss.db"
    make_study(path, budget=24, study=XSS).close()
    _tamper(str(path), XSS)
    out = write_report(str(path), out_path=str(tmp_path / "xss.html"))
    text = Path(out).read_text()
    page = Page(text)
    assert "script" not in page.tags and "img" not in page.tags
    assert not any(v.startswith("alert") for v in page.attrs)
    # The values are there, as text.
    shown = "".join(page.texts)
    assert shown.count('<script>document.title="pwned"</script>') >= 4
    assert "members per sampler" in text  # the mix chart drew the stored slot names
