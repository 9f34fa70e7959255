"""Study files are untrusted and portable: a crafted checkpoint runs nothing, ``resume FILE``
writes to FILE wherever the study was started, and a second writer is refused at once."""

import io
import os
import pickle
import shutil
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

import migrate_opt
from migrate_opt import SQLiteDatabase, hookimpl
from migrate_opt.cli import main
from migrate_opt.testing import ScriptedPolicy


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "migrate_opt.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def tables(path):
    """Everything a study file holds, to compare before and after."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT * FROM {t}").fetchall()  # noqa: S608
                for t in ("studies", "records", "groups", "metrics", "checkpoints", "leases")}
    finally:
        conn.close()


def set_checkpoint(path, blob):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE checkpoints SET state=?", (blob,))
    conn.close()


class Touch:
    """Unpickling this runs ``touch PATH``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A study trained for one group by the tiny random policy through the CLI."""
    path = tiny_study(tmp_path_factory.mktemp("trained"), "migrate", 4)
    assert tables(path)["checkpoints"]
    return path


def tiny_study(folder, method, group_size):
    """Study ``t`` in ``folder/t.db``: one group of the toy task by the tiny random model,
    started through the command line."""
    pytest.importorskip("torch")
    path = str(folder / "t.db")
    out = cli("run", "toy", "--method", method, "--model", "tiny-random", "--storage", path,
              "--study", "t", "--group-size", str(group_size), "--iterations", "1",
              "--budget", "50", "--no-progress")
    assert out.returncode == 0, out.stderr
    return path


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_a_crafted_checkpoint_runs_nothing_and_changes_nothing(trained, tmp_path, kind):
    path = str(tmp_path / "crafted.db")
    shutil.copy(trained, path)
    pwned = tmp_path / "pwned"
    if kind == "pickle":
        blob = pickle.dumps(Touch(str(pwned)))
    else:
        import torch

        buf = io.BytesIO()
        torch.save({"policy": Touch(str(pwned))}, buf)
        blob = buf.getvalue()
    set_checkpoint(path, blob)
    before = tables(path)
    out = cli("resume", path)
    assert out.returncode == 2
    assert not pwned.exists()
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "study 't'" in lines[0] and "pickle" in lines[0]
    assert "--discard-checkpoint" in lines[0] and "nothing was changed" in lines[0]
    assert tables(path) == before


def test_discard_checkpoint_retrains_from_the_stored_records(trained, tmp_path):
    path = str(tmp_path / "discard.db")
    shutil.copy(trained, path)
    set_checkpoint(path, b"garbage that is no checkpoint")
    assert cli("resume", path).returncode == 2
    out = cli("resume", path, "--discard-checkpoint", "--iterations", "1")
    assert out.returncode == 0, out.stderr
    after = tables(path)
    assert after["checkpoints"][0][1] == 1  # iterations 0 (retrained) and 1 (new)
    assert after["checkpoints"][0][2] != b"garbage that is no checkpoint"
    assert after["leases"] == []  # released on a normal exit
    assert cli("resume", path, "--budget", "60").returncode == 0  # the new one loads


def test_a_checkpoint_round_trips_tensors_and_optimizer_state():
    torch = pytest.importorskip("torch")
    from migrate_opt.storage.checkpoint import decode, encode

    params = [torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2, 2))]
    adam = torch.optim.AdamW(params, lr=1e-3)
    sum(p.sum() for p in params).backward()
    adam.step()
    policy, updater = decode(encode({"a.weight": params[0].detach()}, adam.state_dict()))
    assert torch.equal(policy["a.weight"], params[0].detach())
    again = torch.optim.AdamW(params, lr=1e-3)
    again.load_state_dict(updater)  # the schema AdamW expects, int keys and tuples included
    assert again.state_dict()["param_groups"][0]["betas"] == (0.9, 0.999)
    assert torch.equal(again.state_dict()["state"][1]["exp_avg"],
                       adam.state_dict()["state"][1]["exp_avg"])


# -- resume writes to the file it is given ---------------------------------------------------
class DigitsPlugin:
    """A third-party policy that writes random four-digit guesses."""

    @staticmethod
    @hookimpl
    def register_policies(register):
        def digits(**options):
            return ScriptedPolicy(fn=lambda prompt, rng: f'["{rng.randrange(10**4):04d}"]')

        register("digits", digits, description="random guesses (testing)")


@pytest.fixture
def digits():
    migrate_opt.register_plugin(DigitsPlugin)
    yield
    migrate_opt.unregister_plugin(DigitsPlugin)


def start(path, iterations=2):
    assert main(["run", "toy", "--method", "random", "--model", "digits", "--storage", path,
                 "--study", "s", "--group-size", "3", "--budget", "100", "--iterations",
                 str(iterations), "--no-progress"]) == 0


def test_resume_writes_to_the_file_given_not_the_recorded_one(tmp_path, digits, capsys):
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    start(a)
    shutil.copy(a, b)
    before = tables(a)
    assert main(["resume", b]) == 0
    assert tables(a) == before
    assert len(SQLiteDatabase(b, "s", readonly=True)) > len(before["records"])
    assert f"resuming study 's' in {b} (" in capsys.readouterr().err


def test_resume_with_a_relative_path_from_another_folder(tmp_path, digits, monkeypatch):
    (tmp_path / "here").mkdir()
    (tmp_path / "there").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    start("runs.db")  # recorded as a relative path
    monkeypatch.chdir(tmp_path / "there")
    n = len(SQLiteDatabase("../here/runs.db", "s", readonly=True))
    assert main(["resume", "../here/runs.db"]) == 0
    assert len(SQLiteDatabase("../here/runs.db", "s", readonly=True)) > n
    assert os.listdir(tmp_path / "there") == []  # no stray file where the path once pointed


def test_a_second_writer_is_refused_before_any_work(tmp_path, digits, capsys):
    path = str(tmp_path / "busy.db")
    start(path, iterations=1)
    conn = sqlite3.connect(path)
    with conn:  # a live process on this host holds the study
        conn.execute("INSERT INTO leases VALUES ('s', ?, ?, 'theirs', ?)",
                     (os.getppid(), socket.gethostname(), time.time()))
    conn.close()
    before = tables(path)
    capsys.readouterr()
    assert main(["resume", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"being written by pid {os.getppid()}" in err[0]
    assert tables(path) == before


def test_a_lease_left_by_a_dead_writer_is_taken_over(tmp_path, digits):
    path = str(tmp_path / "dead.db")
    start(path, iterations=1)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, timeout=60)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO leases VALUES ('s', ?, ?, 'theirs', ?)",
                     (int(gone.stdout), socket.gethostname(), time.time()))
    conn.close()
    assert main(["resume", path]) == 0
    assert tables(path)["leases"] == []

