"""A study file, a storage path and a model cache are untrusted input: odd names reach the
file system unchanged, a file that is no study (or carries SQL of its own) is refused with
one line before anything runs, huge scores never reach the update, and a deleted file or
an oversized group is caught."""

import math
import os
import pathlib
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import pytest

from migrate_opt import SQLiteDatabase, StorageError, TellError, create
from migrate_opt.cli import main
from migrate_opt.errors import ConfigError
from migrate_opt.optimizer import SCORE_LIMIT, member_from_dict
from migrate_opt.storage import list_studies
from migrate_opt.testing import ScriptedPolicy, ToyTask
from migrate_opt.values import Record


def one_line_error(capsys, argv):
    """Run the CLI; it must fail with exactly one line and no traceback."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def study_file(path, study="s", n=3):
    with SQLiteDatabase(str(path), study) as db:
        db.add([Record(solution=f"{i:04d}", score=float(i), info={"pad": "x" * 200})
                for i in range(n)])
    return str(path)


def objects(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall())
    finally:
        conn.close()


def files(folder):
    """The files in ``folder``, less SQLite's -wal and -shm (a reader may leave them)."""
    return sorted(n for n in os.listdir(folder) if not n.endswith(("-wal", "-shm")))


# -- item 6: paths are quoted into the URI ---------------------------------------------------
@pytest.mark.parametrize("name", ["a%3fb.db", "a?b.db", "x#1.db", "with space.db",
                                  "ünïcødé-研究.db", "q%20.db"])
def test_odd_names_open_the_file_they_name(tmp_path, name, capsys):
    decoy = study_file(tmp_path / "a?b.db", study="decoy") if name == "a%3fb.db" else None
    path = study_file(tmp_path / name, study="mine")
    before = files(tmp_path)
    assert list_studies(path) == ["mine"]
    with SQLiteDatabase(path, "mine", readonly=True) as reader:
        assert len(reader) == 3
    assert main(["show", path]) == 0
    assert "mine" in capsys.readouterr().out
    assert files(tmp_path) == before  # no stray file such as "x"
    if decoy:
        assert list_studies(decoy) == ["decoy"]


# -- item 9: a file that is no study gives one line ------------------------------------------
def _empty(p):
    p.write_bytes(b"")


def _text(p):
    p.write_text("name,score\nabc,1\n" * 50)


def _foreign(p):
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()


def _truncated(p):
    study_file(p, n=200)
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) // 2 + 100)


def _page_corrupted(p):
    study_file(p, n=200)
    size = os.path.getsize(p)
    with open(p, "r+b") as f:  # every page but the first (the schema) overwritten
        f.seek(4096)
        f.write(b"\xde\xad\xbe\xef" * ((size - 4096) // 4))


BAD_FILES = {"empty": _empty, "text": _text, "foreign": _foreign, "truncated": _truncated,
             "page-corrupted": _page_corrupted}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["show", "report", "resume"])
def test_a_file_that_is_no_study_gives_one_line(tmp_path, capsys, kind, command):
    path = tmp_path / "bad.db"
    BAD_FILES[kind](path)
    before = path.read_bytes()
    argv = [command, str(path)]
    if command == "report":
        argv += ["-o", str(tmp_path / "r.html")]
    line = one_line_error(capsys, argv)
    assert str(path) in line
    assert path.read_bytes() == before  # nothing written into it


def test_a_locked_file_fails_fast_naming_the_holder(tmp_path, capsys):
    path = study_file(tmp_path / "locked.db")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('PRAGMA locking_mode=EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE')\n"
         "c.execute('UPDATE records SET score = score')\n"
         "print('locked', flush=True); sys.stdin.read()\n", path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for argv in (["show", path], ["resume", path]):
            line = one_line_error(capsys, argv)
            assert "locked by" in line and f"pid {holder.pid}" in line, line
    finally:
        holder.communicate("", timeout=60)


# -- item 10: read-only media ----------------------------------------------------------------
READER = """
import os, sys
from migrate_opt import cli
study, warm, out = sys.argv[1:]
# Everything show and report import is imported now, on a writable copy: the standard
# library may not be readable once the privileges go.
assert cli.main(["show", warm]) == 0 and cli.main(["report", warm, "-o", warm + ".html"]) == 0
if os.geteuid() == 0:  # root writes anywhere: read as nobody, as a user on read-only media
    os.setgid(65534)
    os.setuid(65534)
sys.exit(cli.main(["show", study]) or cli.main(["report", study, "-o", out]))
"""


@pytest.fixture
def public_tmp():
    """A folder that another user can reach (pytest's own is private to its user)."""
    folder = tempfile.mkdtemp(prefix="migrate-opt-ro-")
    os.chmod(folder, 0o755)
    yield pathlib.Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("pending_wal", [False, True])
def test_a_study_on_read_only_media_can_be_shown_and_reported(public_tmp, pending_wal):
    media = public_tmp / "media"
    media.mkdir()
    path = study_file(media / "ro.db")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # needs a -shm to read
    conn.close()
    warm = shutil.copy(path, public_tmp / "warm.db")
    if pending_wal:  # copied while a writer had records in its -wal: not readable immutable
        with SQLiteDatabase(str(warm), "s") as writer:
            writer.add([Record(solution="9999", score=9.0)])
            shutil.copy(f"{warm}-wal", f"{path}-wal")
    listing = sorted(os.listdir(media))
    out_dir = public_tmp / "out"
    out_dir.mkdir()
    out_dir.chmod(0o777)
    media.chmod(0o555)
    try:
        out = subprocess.run([sys.executable, "-c", READER, path, warm, str(out_dir / "r.html")],
                             capture_output=True, text=True, timeout=300)
    finally:
        media.chmod(0o755)
    assert sorted(os.listdir(media)) == listing
    if pending_wal:
        assert out.returncode == 2 and "-wal file holds records" in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
        return
    assert out.returncode == 0, out.stderr
    assert "s" in out.stdout and (out_dir / "r.html").is_file()


# -- item 13: the schema must be exactly ours ------------------------------------------------
CRAFTED_SQL = {
    "trigger": "CREATE TRIGGER wipe AFTER INSERT ON records BEGIN DELETE FROM records; END",
    "view": "CREATE VIEW v AS SELECT * FROM records",
    "table": "CREATE TABLE extra (x)",
    "index": "CREATE INDEX extra_idx ON records (source)",
    "column": "ALTER TABLE records ADD COLUMN extra TEXT",
}


@pytest.mark.parametrize("kind", sorted(CRAFTED_SQL))
def test_a_file_with_sql_of_its_own_is_refused(tmp_path, capsys, kind):
    path = study_file(tmp_path / "crafted.db")
    conn = sqlite3.connect(path)
    conn.execute(CRAFTED_SQL[kind])
    conn.commit()
    conn.close()
    before = objects(path)
    with pytest.raises(StorageError, match="schema differs"):
        SQLiteDatabase(path, "s")
    for argv in (["resume", path], ["show", path]):
        assert "schema differs" in one_line_error(capsys, argv)
    assert objects(path) == before
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 3
    conn.close()


def test_run_refuses_another_programs_database(tmp_path, capsys):
    path = tmp_path / "theirs.sqlite"
    _foreign(path)
    before = objects(path)
    line = one_line_error(capsys, ["run", "toy", "--method", "random", "--storage", str(path),
                                   "--budget", "4", "--no-progress"])
    assert "another program's SQLite database" in line and "notes" in line
    assert objects(path) == before
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched
    conn.close()


# -- item 7: huge scores ---------------------------------------------------------------------
@pytest.fixture
def tiny_study(tmp_path):
    pytest.importorskip("torch")
    from migrate_opt.policy import load_policy

    path = str(tmp_path / "scores.db")

    def make():
        return create("optimizer", "migrate", ToyTask(), group_size=4, seed=0, budget=40,
                      policy=load_policy("tiny-random", seed=0), database=SQLiteDatabase(path))

    return make


def adapter_finite(opt):
    return all(bool(t.isfinite().all()) for t in opt.policy.state_dict().values())


@pytest.mark.parametrize("bad", [1e308, -1e308, 1e150, -1e150, 10**400])
def test_tell_refuses_a_huge_score_before_storing_anything(tiny_study, bad):
    opt = tiny_study()
    group = opt.ask()
    n = len(group.pending)
    with pytest.raises(TellError, match=re.escape(f"magnitude {SCORE_LIMIT:g}")):
        opt.tell(group, [bad] + [0.5] * (n - 1))
    assert len(opt.database) == 0 and opt.database.groups() == []
    assert len(opt.tell(group, [None] + [0.5] * (n - 1))) == n  # told properly afterwards


def test_scores_at_the_bounds_train_to_a_finite_adapter_and_reopen(tiny_study):
    opt = tiny_study()
    for scores in ([SCORE_LIMIT, -SCORE_LIMIT, 1e-320, 0.0], [1e-320, 0.0, -1e-320, 1e-300]):
        group = opt.ask()
        opt.tell(group, (scores * 2)[: len(group.pending)])
        assert adapter_finite(opt)
    metrics = opt.database.metrics()
    assert metrics and all(math.isfinite(m["loss"]) for m in metrics)
    opt.database.close()
    again = tiny_study()
    group = again.ask()  # restores the checkpoint, trains on
    again.tell(group, [1.0] * len(group.pending))
    assert adapter_finite(again) and len(again.database.groups()) == 3


def test_a_stored_huge_reward_is_refused_on_reopen():
    member = {"source": "on_policy", "completion": "x", "solutions": ["1"], "reward": 1e308}
    with pytest.raises(StorageError, match="reward"):
        member_from_dict(member)


def test_advantages_the_loss_sees_are_bounded():
    from migrate_opt.grpo_math import ADVANTAGE_LIMIT, ADVANTAGE_MODES, advantages, bounded

    for mode in ADVANTAGE_MODES:
        adv = bounded(advantages([SCORE_LIMIT, -SCORE_LIMIT, 0.0, None, 1.0], mode))
        assert adv[3] is None
        assert all(math.isfinite(a) and abs(a) <= ADVANTAGE_LIMIT for a in adv if a is not None)
    assert bounded([2e100, -1e100])[0] == ADVANTAGE_LIMIT  # scaled together: the sign and
    assert bounded([2e100, -1e100])[1] == -ADVANTAGE_LIMIT / 2  # the ratios stay
    assert bounded([3.0, -1.0, None]) == [3.0, -1.0, None]


# -- also seen: a group capped by the budget, a deleted file ---------------------------------
def test_a_huge_group_generates_no_more_than_the_budget_can_take():
    policy = ScriptedPolicy(fn=lambda p, rng: f'["{rng.randrange(10_000):04d}"]')
    opt = create("optimizer", "sample", ToyTask(), policy=policy, group_size=200_000, budget=4)
    group = opt.ask()
    assert len(policy.prompts) == 4 and len(group.pending) <= 4
    opt.tell(group, [0.5] * len(group.pending))


def test_a_tell_after_the_file_was_deleted_fails_loudly(tmp_path):
    path = str(tmp_path / "gone.db")
    policy = ScriptedPolicy(fn=lambda p, rng: f'["{rng.randrange(10_000):04d}"]')
    opt = create("optimizer", "sample", ToyTask(), policy=policy, group_size=4, budget=40,
                 database=SQLiteDatabase(path))
    group = opt.ask()
    opt.tell(group, [0.5] * len(group.pending))
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    group = opt.ask()
    with pytest.raises(StorageError, match="deleted or replaced"):
        opt.tell(group, [0.5] * len(group.pending))
    assert not group.told
    opt.database.close()  # closing a study whose file is gone is harmless


def test_a_replaced_file_is_caught_too(tmp_path):
    path = str(tmp_path / "swap.db")
    db = SQLiteDatabase(path, "s")
    shutil.move(path, path + ".old")
    study_file(path, study="other")
    with pytest.raises(StorageError, match="deleted or replaced"):
        db.add([Record(solution="1", score=1.0)])
    db.close()
    assert list_studies(path) == ["other"]


# -- also seen: the model cache --------------------------------------------------------------
@pytest.fixture
def cache(tmp_path, monkeypatch):
    from migrate_opt.policy import smollm2

    monkeypatch.setenv("MIGRATE_OPT_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"weights v1")
    monkeypatch.setattr(smollm2, "gguf_path", lambda: gguf)
    calls = []

    def convert(source, folder):
        calls.append(source.read_bytes())
        (folder / "model.safetensors").write_bytes(source.read_bytes())
        (folder / "config.json").write_text("{}")

    monkeypatch.setattr(smollm2, "_convert", convert)
    return smollm2, gguf, calls


def test_cache_entries_are_keyed_by_the_source_content(cache):
    smollm2, gguf, calls = cache
    first = smollm2.converted_path()
    assert smollm2.converted_path() == first and len(calls) == 1
    gguf.write_bytes(b"weights v2 (another source)")
    second = smollm2.converted_path()
    assert second != first and calls == [b"weights v1", b"weights v2 (another source)"]
    assert (second / "model.safetensors").read_bytes() == b"weights v2 (another source)"


@pytest.mark.parametrize("damage", ["no-manifest", "other-format", "half-written"])
def test_a_stale_or_unfinished_entry_is_rebuilt(cache, damage):
    from migrate_opt.policy import model_cache

    smollm2, _, calls = cache
    entry = smollm2.converted_path()
    if damage == "no-manifest":
        (entry / model_cache.MANIFEST).unlink()
    elif damage == "other-format":
        text = (entry / model_cache.MANIFEST).read_text()
        (entry / model_cache.MANIFEST).write_text(text.replace('"format": 1', '"format": 0'))
    else:
        (entry / "model.safetensors").write_bytes(b"half")
    assert smollm2.converted_path() == entry and len(calls) == 2
    assert (entry / "model.safetensors").read_bytes() == b"weights v1"


def test_an_entry_others_can_write_or_own_is_refused(cache):
    smollm2, _, calls = cache
    entry = smollm2.converted_path()
    (entry / "model.safetensors").chmod(0o666)
    with pytest.raises(ConfigError, match="writable by others"):
        smollm2.converted_path()
    (entry / "model.safetensors").chmod(0o644)
    if os.geteuid() == 0:  # only root can give a file away
        os.chown(entry / "config.json", 65534, 65534)
        with pytest.raises(ConfigError, match="owned by uid 65534"):
            smollm2.converted_path()
    assert len(calls) == 1  # never rebuilt over, never used


@pytest.mark.parametrize("stored", ["null", "[1, 2]", "\"text\"", "{not json"])
def test_stored_settings_that_are_no_mapping_give_one_line(tmp_path, capsys, stored):
    path = study_file(tmp_path / "settings.db")
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE studies SET settings = ?", (stored,))
    conn.close()
    with pytest.raises(StorageError, match="settings are not a JSON object"):
        SQLiteDatabase(path, "s", readonly=True).settings()
    assert "settings are not a JSON object" in one_line_error(capsys, ["show", path])
