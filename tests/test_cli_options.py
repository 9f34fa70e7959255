"""The command line does what Python does: custom groups of any registered sampler (an
installed plugin's included), sampler, policy and executor options, and a TOML config."""

import json
import os
import subprocess
import sys

import pytest

from migrate_opt import SQLiteDatabase
from migrate_opt.cli import main
from migrate_opt.factory import RECORD_KEYS
from migrate_opt.registry import reload

from .test_cli import OWN_PLUGINS
from .test_plugins import make_dist

PLUGIN = """
from migrate_opt import Proposal, Sampler, hookimpl
from migrate_opt.testing import ScriptedPolicy

class Echo(Sampler):
    '''Proposes the task prompt, tagged.'''
    name = "echo"

    def __init__(self, tag: str = "none", repeat: int = 1):
        self.tag = tag

    def propose(self, ctx, n):
        return [Proposal("echo", prompt=ctx.task.prompt(), tags={"tag": self.tag})
                for _ in range(n)]

@hookimpl
def register_samplers(register):
    register("echo", Echo, description="a third-party sampler")

@hookimpl
def register_policies(register):
    register("digits", lambda **_: ScriptedPolicy(
        fn=lambda prompt, rng: '["%04d"]' % rng.randrange(10**4)))
"""


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A plugin distribution installed where this process (and its children) find it."""
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "mo-echo", "third_party_echo", PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.delenv("MIGRATE_OPT_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)
    reload()
    yield tmp_path
    sys.modules.pop("third_party_echo", None)
    reload()


def one_line_error(code, capsys, fragment):
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def records(path, study="s"):
    return SQLiteDatabase(path, study, readonly=True).records()


def test_a_third_party_sampler_in_a_custom_group_from_the_cli(installed):
    out = subprocess.run(
        [sys.executable, "-m", "migrate_opt.cli", "run", "toy", "--method", "sample",
         "--model", "digits", "--group", "on_policy=1,echo=2", "--sampler-option",
         "echo.tag=mine", "--storage", "e.db", "--study", "s", "--iterations", "2",
         "--budget", "50", "--no-progress"],
        capture_output=True, text=True, timeout=300, cwd=installed)
    assert out.returncode == 0, out.stderr
    stored = records(str(installed / "e.db"))
    assert {r.source for r in stored} == {"on_policy", "echo"}
    assert {r.tags.get("tag") for r in stored if r.source == "echo"} == {"mine"}
    settings = SQLiteDatabase(str(installed / "e.db"), "s", readonly=True).settings()
    assert settings["config"]["group"] == {"on_policy": {"n": 1}, "echo": {"n": 2, "tag": "mine"}}


def test_sampler_options_are_typed_by_the_sampler(installed, capsys):
    code = main(["run", "toy", "--model", "digits", "--method", "sample", "--group",
                 "echo=1", "--sampler-option", "echo.repeat=two"])
    one_line_error(code, capsys, "--repeat expects int, got 'two'")
    code = main(["run", "toy", "--group", "echo=1", "--sampler-option", "echo.colour=1"])
    one_line_error(code, capsys, "unknown sampler 'echo' option 'colour'; it accepts: tag, repeat")
    code = main(["run", "toy", "--group", "ecoh=1", "--model", "digits"])
    one_line_error(code, capsys, "unknown sampler 'ecoh'. Did you mean 'echo'?")


def test_a_config_file_holds_the_settings_and_flags_override_it(installed):
    (installed / "run.toml").write_text(
        'method = "sample"\nmodel = "digits"\nbudget = 30\nstudy = "s"\n'
        'group = { on_policy = 1, echo = { n = 1, tag = "file" } }\n'
        '[task_options]\ntarget = "12"\n[sampling]\ntemperature = 0.5\n')
    assert main(["run", "toy", "--config", "run.toml", "--storage", "c.db", "--iterations",
                 "1", "--sampler-option", "echo.tag=flag", "--temperature", "0.7",
                 "--no-progress"]) == 0
    settings = SQLiteDatabase("c.db", "s", readonly=True).settings()
    assert settings["config"]["group"]["echo"] == {"n": 1, "tag": "flag"}
    assert settings["config"]["sampling"]["temperature"] == 0.7
    assert settings["config"]["policy"]["name"] == "digits"
    assert settings["task_options"] == {"target": "12"} and settings["run"]["budget"] == 30


def test_set_reaches_any_config_key_and_a_typo_lists_the_known_ones(installed, capsys):
    assert main(["run", "toy", "--method", "sample", "--model", "digits", "--storage", "d.db",
                 "--study", "s", "--iterations", "1", "--no-progress", "--set",
                 "sampling.top_p=0.5", "--set", "group={on_policy = 3}"]) == 0
    config = SQLiteDatabase("d.db", "s", readonly=True).settings()["config"]
    assert config["sampling"]["top_p"] == 0.5 and config["group"] == {"on_policy": {"n": 3}}
    capsys.readouterr()
    one_line_error(main(["run", "toy", "--model", "digits", "--storage", "e.db", "--set",
                         "grpo.kl_cof=0.1"]), capsys, "unknown grpo setting(s) kl_cof; known:")


def test_a_config_file_with_an_unknown_key_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text('methd = "migrate"\n')
    one_line_error(main(["run", "toy", "--config", str(tmp_path / "bad.toml")]), capsys,
                   "unknown setting(s) methd in")
    (tmp_path / "bad.toml").write_text('method = "migrate"\n[sampling]\ntemprature = 1\n')
    one_line_error(main(["run", "toy", "--config", str(tmp_path / "bad.toml"), "--model",
                         "tiny-random", "--storage", str(tmp_path / "x.db")]), capsys,
                   "unknown sampling setting(s) temprature")


def test_llm_settings_for_a_baseline_are_an_error(tmp_path, capsys):
    pytest.importorskip("migrate_opt_baselines")
    one_line_error(main(["run", "toy", "--method", "random-search", "--group", "on_policy=2",
                         "--storage", str(tmp_path / "b.db")]), capsys,
                   "group apply to LLM presets, and 'random-search' is not one")


def test_executor_options_come_from_the_factory(tmp_path, capsys):
    pytest.importorskip("migrate_opt_baselines")
    path = str(tmp_path / "x.db")
    assert main(["run", "toy", "--method", "random-search", "--storage", path, "--study", "s",
                 "--executor", "process", "--executor-option", "workers=1",
                 "--executor-option", "timeout=30", "--budget", "8", "--no-progress"]) == 0
    stored = SQLiteDatabase(path, "s", readonly=True).settings()
    assert set(stored) - {"runs"} == set(RECORD_KEYS)
    assert "workers" not in str(stored)  # the executor is this machine's, never the file's
    capsys.readouterr()
    one_line_error(main(["run", "toy", "--executor", "process", "--executor-option",
                         "wokers=2"]), capsys,
                   "unknown executor 'process' option 'wokers'; it accepts: workers,")
    assert main(["run", "toy", "--executor", "ray", "--help-executor"]) == 0
    assert "--address (str)" in capsys.readouterr().out


def test_the_study_file_picks_the_database(tmp_path, capsys):
    one_line_error(main(["show", str(tmp_path / "study.txt")]), capsys,
                   "no database owns")
    path = tmp_path / "any.name"
    SQLiteDatabase(str(path), "s").close()
    assert main(["show", f"sqlite://{path}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["study"] == "s"


def test_cuda_without_a_gpu_is_one_clear_line(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    one_line_error(main(["run", "toy", "--model", "tiny-random", "--device", "cuda",
                         "--storage", str(tmp_path / "g.db")]), capsys,
                   "torch sees no CUDA GPU here")
    assert not (tmp_path / "g.db").exists()


def test_run_help_is_grouped():
    out = subprocess.run([sys.executable, "-m", "migrate_opt.cli", "run", "--help"],
                         capture_output=True, text=True, timeout=120).stdout
    for heading in ("study:", "group (LLM presets):", "policy and training (LLM presets):",
                    "evaluation:"):
        assert heading in out
    assert "--lora-targets" in out and "--sampler-option" in out


def test_python_resolves_the_same_names(installed):
    import migrate_opt
    from migrate_opt.testing import ToyTask

    opt = migrate_opt.create("optimizer", "sample", ToyTask(), policy="digits",
                             group={"echo": {"n": 2, "tag": "py"}})
    group = opt.ask()
    assert [m.tags for m in group.members] == [{"tag": "py"}] * 2
    assert opt.settings()["config"]["policy"]["name"] == "digits"


def run_lines(capsys):  # type: ignore[no-untyped-def]
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_the_cli_stops_when_solved_unless_told_otherwise(installed, capsys):
    base = ["run", "toy", "--target", "7", "--method", "sample", "--model", "digits",
            "--budget", "100", "--no-progress"]
    assert main([*base, "--storage", "a.db"]) == 0
    assert run_lines(capsys).startswith("stopped: solved (the task was solved")
    assert main([*base, "--storage", "b.db", "--no-stop-when-solved", "--patience", "3"]) == 0
    last = run_lines(capsys)
    assert last.startswith("stopped: stale (3 groups in a row brought no new solution")
    assert "evaluations: 10;" in last  # the ten one-digit guesses, then three stale groups


def test_a_misspelt_run_flag_is_suggested_not_blamed_on_the_task(capsys):
    code = main(["run", "toy", "--budjet", "3"])
    one_line_error(code, capsys, "not an option of `run`")
    assert main(["run", "toy", "--targt", "3"]) == 2
    assert "Did you mean --target?" in capsys.readouterr().err


def test_show_into_a_closed_pipe_ends_quietly(tmp_path):
    from migrate_opt import Optimizer

    path = str(tmp_path / "big.db")
    db = SQLiteDatabase(path, "big")
    opt = create_toy(db)
    opt.tell_unasked([f"{i:04d}" for i in range(3000)], [i / 3000 for i in range(3000)])
    db.close()
    assert isinstance(opt, Optimizer)
    show = subprocess.Popen([sys.executable, "-m", "migrate_opt.cli", "show", path, "--top",
                             "3000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "MIGRATE_OPT_PLUGINS": OWN_PLUGINS})
    assert show.stdout is not None and show.stdout.readline()  # `| head -1`
    show.stdout.close()
    assert show.wait(timeout=120) == 0
    assert show.stderr is not None and show.stderr.read() == b""


def create_toy(db):  # type: ignore[no-untyped-def]
    from migrate_opt import create
    from migrate_opt.testing import ScriptedPolicy, ToyTask

    return create("optimizer", "sample", ToyTask(), group_size=1, database=db,
                  policy=ScriptedPolicy(['["0000"]']))
