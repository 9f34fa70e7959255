"""A study file is data: ``resume`` takes the task, its data options, the method's config,
the budget and the seed from it, checked like a config file, and nothing that runs,
connects or limits (those come from its own command line). ``run`` keeps studies apart by
what shapes them and writes nothing before a run is known to start; ``report -o`` destroys
nothing. Crafted files and configs, each a one-line error or ignored, never a traceback."""

import json
import math
import os
import select
import socket
import sqlite3
import subprocess
import sys

import pytest

import migrate_opt
from migrate_opt import hookimpl
from migrate_opt.cli import main
from migrate_opt.errors import ConfigError
from migrate_opt.factory import RECORD_KEYS
from migrate_opt.testing import ScriptedPolicy, ToyTask

from .test_study_files import tables, tiny_study


def one_line(capsys, code, fragment, expected=2):
    err = capsys.readouterr().err.strip().splitlines()
    assert code == expected, err
    assert len(err) == 1 and fragment in err[0], err
    assert "Traceback" not in err[0]
    return err[0]


def stored(path, study):
    """The study's stored settings: its record (and the loop's run log)."""
    conn = sqlite3.connect(path)
    try:
        (text,) = conn.execute("SELECT settings FROM studies WHERE name=?", (study,)).fetchone()
    finally:
        conn.close()
    return json.loads(text)


def rewrite(path, study, change):
    """Rewrite the study's stored settings as an attacker would."""
    conn = sqlite3.connect(path)
    with conn:
        (text,) = conn.execute("SELECT settings FROM studies WHERE name=?", (study,)).fetchone()
        settings = change(json.loads(text))
        conn.execute("UPDATE studies SET settings=? WHERE name=?", (json.dumps(settings), study))
    conn.close()


# -- crafted executor settings: resume runs and connects nowhere -------------------------------
DRIVER = """
import sys
from migrate_opt.cli import main
code = main(sys.argv[1:])
print("RAY-IMPORTED" if "ray" in sys.modules else "RAY-UNTOUCHED")
sys.exit(code)
"""


@pytest.fixture(scope="module")
def sampled_study(tmp_path_factory):
    """A study of the toy task sampled by the tiny random model, started by the command
    line (no training: the executor is what these tests are about)."""
    return tiny_study(tmp_path_factory.mktemp("tiny"), "sample", 2)


@pytest.mark.parametrize("attack", ["py_executable", "address"])
def test_resume_never_builds_the_stored_executor(sampled_study, tmp_path, attack):
    import shutil

    path = str(tmp_path / "crafted.db")
    shutil.copy(sampled_study, path)
    marker = tmp_path / "MARKER"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    options = ({"init_options": {"runtime_env": {"py_executable": f"$(touch {marker}) python"}}}
               if attack == "py_executable" else {"address": f"127.0.0.1:{port}"})
    rewrite(path, "t", lambda record: {**record, "executor": "ray", "executor_options": options})
    out = subprocess.run([sys.executable, "-c", DRIVER, "resume", path, "--budget", "52",
                          "--no-progress"], capture_output=True, text=True, timeout=300)
    try:
        assert out.returncode == 0, out.stderr
        assert "RAY-UNTOUCHED" in out.stdout
        assert not marker.exists()
        readable, _, _ = select.select([listener], [], [], 0)
        assert not readable, "resume connected to the address the file named"
    finally:
        listener.close()
    assert "resume ignores the study's stored executor, executor_options" in out.stderr
    assert "Traceback" not in out.stderr
    record = stored(path, "t")
    assert "executor" not in record and "executor_options" not in record  # never kept


# -- in-process studies with a fast scripted policy ---------------------------------------------
class Timed(ToyTask):
    """The toy task with an environment option: how long an evaluation may take."""

    name = "timed"
    environment_options = frozenset({"timeout"})

    def __init__(self, target: str = "4213", length: int = 4, timeout: float = 1.0) -> None:
        super().__init__(target=target, length=length)
        self.timeout = timeout


class Fixtures:
    """A policy of random four-digit guesses, one that is interrupted while it loads, and a
    task with an environment option."""

    @staticmethod
    @hookimpl
    def register_policies(register):
        def digits(**options):
            return ScriptedPolicy(fn=lambda prompt, rng: f'["{rng.randrange(10**4):04d}"]')

        def interrupted(**options):
            raise KeyboardInterrupt  # what Ctrl-C does while weights load

        register("digits", digits, description="random guesses (testing)")
        register("interrupted", interrupted, description="Ctrl-C while loading (testing)")

    @staticmethod
    @hookimpl
    def register_tasks(register):
        register("timed", Timed, description="toy with a timeout (testing)")


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    migrate_opt.register_plugin(Fixtures)
    monkeypatch.chdir(tmp_path)  # anything written by mistake lands here, not in the clone
    yield tmp_path
    migrate_opt.unregister_plugin(Fixtures)


def start(path, *extra, study="s", task="toy"):
    return main(["run", task, "--method", "sample", "--model", "digits", "--storage", path,
                 "--study", study, "--group-size", "2", "--budget", "40", "--iterations", "1",
                 "--no-progress", *extra])


def test_a_new_study_stores_no_executor_and_no_environment(plugin, capsys):
    assert start("a.db", "--executor", "process", "--executor-option", "workers=1",
                 "--timeout", "7", "--target", "1111", task="timed") == 0
    record = stored("a.db", "s")
    assert set(record) - {"runs"} == set(RECORD_KEYS)
    assert "process" not in json.dumps(record) and "workers" not in json.dumps(record)
    assert record["task_options"] == {"target": "1111"}  # the timeout is this machine's
    assert record["task"] == "timed" and record["optimizer"] == "sample"
    assert record["run"]["seed"] == 0


def test_environment_options_come_from_the_resuming_command_line(plugin, capsys):
    assert start("e.db", "--target", "1111", task="timed") == 0
    rewrite("e.db", "s", lambda record: {**record, "task_options": {
        **record["task_options"], "timeout": 9999.0}})
    capsys.readouterr()
    assert main(["resume", "e.db", "--timeout", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "ignores the study's stored task_options.timeout" in err
    assert stored("e.db", "s")["task_options"] == {"target": "1111"}
    before = tables("e.db")
    one_line(capsys, main(["resume", "e.db", "--target", "2222"]),
             "--target shape(s) the study and cannot change on resume")
    assert tables("e.db") == before


def _config(change):
    return lambda record: {**record, "config": change(record["config"])}


@pytest.mark.parametrize("change, fragment", [
    (lambda r: {**r, "task_options": {"colour": "red"}},
     "unknown task 'toy' option(s) colour; it accepts: target, target_seed, length"),
    (lambda r: {**r, "task_options": {"length": "4"}},
     "task 'toy' option 'length' must be an integer"),
    (lambda r: {**r, "run": {**r["run"], "seed": "3"}}, "run.seed must be an integer, got '3'"),
    (lambda r: {**r, "run": {**r["run"], "executor": "ray"}}, "it holds seed and budget only"),
    (lambda r: {**r, "task_options": ["target", "1"]}, "task_options must be a table"),
    (_config(lambda c: {**c, "grpo": [1, 2]}), "grpo must be a table"),
    (_config(lambda c: {**c, "sampling": {"temperature": "hot"}}),
     "temperature must be a finite number"),
    (_config(lambda c: {**c, "exectuor": "ray"}), "unknown MiGrATe setting(s) exectuor"),
    (lambda r: {**r, "run": {**r["run"], "budget": 1e309}}, "run.budget must be an integer"),
    (lambda r: [r], "not a JSON object"),
    (lambda r: {**r, "task": "nope"}, "unknown task 'nope'"),
])
def test_malformed_stored_settings_are_one_line_and_change_nothing(plugin, capsys, change,
                                                                     fragment):
    assert start("m.db") == 0
    assert start("m.db", study="other") == 0
    rewrite("m.db", "s", change)
    before = tables("m.db")
    capsys.readouterr()
    one_line(capsys, main(["resume", "m.db", "--study", "s"]), fragment)
    assert tables("m.db") == before  # neither study got a record


# -- study identity ----------------------------------------------------------------------------
def test_a_changed_target_is_refused_and_the_file_is_unchanged(plugin, capsys):
    assert start("i.db", "--target", "1234") == 0
    before = tables("i.db")
    capsys.readouterr()
    line = one_line(capsys, start("i.db", "--target", "9999"),
                    "study 's' in i.db was started with other settings: task_options.target "
                    "(stored '1234', now '9999')")
    assert "migrate-opt resume i.db --study s" in line and "--study NAME" in line
    assert tables("i.db") == before
    assert start("i.db", "--target", "1234") == 0  # the same settings continue it
    assert len(tables("i.db")["records"]) > len(before["records"])


def test_default_names_keep_studies_of_other_settings_apart(plugin, capsys):
    argv = ["run", "toy", "--method", "sample", "--model", "digits", "--storage", "d.db",
            "--group-size", "2", "--budget", "20", "--iterations", "1", "--no-progress"]
    for target in ("1234", "9999", "1234"):
        assert main([*argv, "--target", target]) == 0
    names = [r[0] for r in sqlite3.connect("d.db").execute("SELECT name FROM studies")]
    assert len(names) == 2 and all(n.startswith("toy-sample-s0-") for n in names)


@pytest.mark.parametrize("argv, fragment", [
    (["--method", "nope"], "unknown optimizer 'nope'"),
    (["--model", "no-such-model-folder"], "no-such-model-folder"),
    (["--group", "ecoh=2"], "unknown sampler 'ecoh'"),
])
def test_a_refused_start_writes_nothing(plugin, capsys, argv, fragment):
    base = ["run", "toy", "--storage", "r.db", "--no-progress", "--budget", "4"]
    one_line(capsys, main([*base, *argv]), fragment)
    assert not os.path.exists("r.db")
    assert start("r.db") == 0
    before = tables("r.db")
    capsys.readouterr()
    one_line(capsys, main([*base, "--study", "new", *argv]), fragment)
    assert tables("r.db") == before


def test_cuda_here_writes_nothing(plugin, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    assert start("c.db") == 0
    before = tables("c.db")
    capsys.readouterr()
    one_line(capsys, start("c.db", "--device", "cuda", study="gpu"), "no CUDA GPU")
    assert tables("c.db") == before


def test_ctrl_c_while_the_model_loads_leaves_nothing(plugin, capsys):
    argv = ["run", "toy", "--method", "sample", "--model", "interrupted", "--storage",
            "k.db", "--study", "s", "--no-progress"]
    one_line(capsys, main(argv), "interrupted before the run started; nothing was written",
             expected=130)
    assert not os.path.exists("k.db")
    assert start("k.db", study="other") == 0
    before = tables("k.db")
    capsys.readouterr()
    one_line(capsys, main(argv), "nothing was written", expected=130)
    assert tables("k.db") == before
    assert start("k.db") == 0  # no empty study left to refuse the next start


# -- report -o destroys nothing ----------------------------------------------------------------
def test_report_refuses_to_overwrite_what_it_did_not_write(plugin, capsys):
    assert start("p.db") == 0
    before = tables("p.db")
    capsys.readouterr()
    one_line(capsys, main(["report", "p.db", "-o", "p.db"]), "is a database")
    one_line(capsys, main(["report", "p.db", "-o", "p.db", "--force"]), "is a database")
    assert tables("p.db") == before
    one_line(capsys, main(["report", "p.db", "-o", "/dev/null", "--force"]),
             "not a regular file")
    (plugin / "notes.html").write_text("mine")
    one_line(capsys, main(["report", "p.db", "-o", "notes.html"]), "not a report written")
    assert (plugin / "notes.html").read_text() == "mine"
    assert main(["report", "p.db", "-o", "notes.html", "--force"]) == 0
    assert main(["report", "p.db", "-o", "notes.html"]) == 0  # ours now: replaced freely
    victim = plugin / "victim"
    victim.write_text("keep")
    os.symlink(victim, "out.html.tmp")  # planted where a naive writer puts its temporary
    os.symlink(victim, "link.html")
    assert main(["report", "p.db", "-o", "out.html"]) == 0
    one_line(capsys, main(["report", "p.db", "-o", "link.html"]), "is a symbolic link")
    assert victim.read_text() == "keep"
    assert (plugin / "out.html").read_text().startswith("<!DOCTYPE html>")
    assert not [f for f in os.listdir(plugin) if f.endswith(".tmp") and f != "out.html.tmp"]


# -- nan and mistyped configs ------------------------------------------------------------------
def test_nan_temperature_is_refused_everywhere(plugin, capsys):
    one_line(capsys, start("n.db", "--temperature", "nan"),
             "temperature must be a finite number")
    (plugin / "nan.toml").write_text("[sampling]\ntemperature = nan\n")
    one_line(capsys, start("n.db", "--config", "nan.toml"),
             "temperature must be a finite number >= 0, got nan")
    assert not os.path.exists("n.db")
    with pytest.raises(ConfigError, match="temperature must be a finite number"):
        migrate_opt.create("optimizer", "sample", ToyTask(), policy="digits",
                           sampling={"temperature": float("nan")})
    with pytest.raises(ConfigError, match="kl_coef must be a finite number"):
        migrate_opt.create("optimizer", "migrate", ToyTask(), policy="tiny-random",
                           grpo={"kl_coef": math.inf})


@pytest.mark.parametrize("text, fragment", [
    ("budget = 6.5", "budget must be an integer, got 6.5"),
    ('budget = "abc"', "budget must be an integer, got 'abc'"),
    ("budget = nan", "budget must be an integer, got nan"),
    ("learning_rate = inf", "learning_rate must be a finite number"),
    ("[task_options]\nlength = \"four\"", "task 'toy' option 'length' must be an integer"),
    ("[task_options]\ntarget = 1234", "task 'toy' option 'target' must be text"),
    ("[task_options]\ncolour = 1", "unknown task 'toy' option(s) colour"),
    ("model = " + "[" * 2000 + "]" * 2000, "config file"),
    ("[task_options]\ntarget = [[[[[[\"1\"]]]]]]", "option 'target' must be text"),
    ("group = { on_policy = [1] }", "group entry 'on_policy' must be a count"),
    ("[group.neighborhood]\nn = 2\ntop_k = \"three\"",
     "sampler 'neighborhood' option 'top_k' must be an integer"),
    ("[executor_options]\nworkers = 1.5", "executor 'serial'"),
])
def test_a_mistyped_config_file_is_one_line(plugin, capsys, text, fragment):
    (plugin / "bad.toml").write_text(text + "\n")
    one_line(capsys, start("b.db", "--config", "bad.toml"), fragment)
    assert not os.path.exists("b.db")


def test_an_untrained_twin_is_another_study():
    from migrate_opt.cli.run import default_study_name

    base = {"task": "toy", "method": "migrate", "seed": 0, "config": {}}
    trained = default_study_name(base, {})
    assert default_study_name({**base, "config": {"train": False}}, {}) != trained
