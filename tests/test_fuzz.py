"""Fuzzing with hypothesis: ``Optimizer.tell``, the parsers of every installed task plugin
(discovered through the registry) and the CLI options. Nothing may crash with an
unhandled exception; invalid input gives a clear error and stores nothing."""

import itertools
import json
import sqlite3
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate_opt import Evaluation, SQLiteDatabase, StorageError, TellError, create
from migrate_opt.cli import main as cli_main
from migrate_opt.cli import run as cli_run
from migrate_opt.optimizer import SCORE_LIMIT
from migrate_opt.registry import registry
from migrate_opt.testing import ScriptedPolicy, ToyTask
from migrate_opt.values import Record

QUICK, THOROUGH = 50, 1500
"""Examples per property in the default suite and in the slow one (the figures noted)."""


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


FUZZ = fuzz(QUICK)

# -- tell -------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=10)
huge = st.sampled_from([1e308, -1e308, 1e150, -1e150, 1e-320, SCORE_LIMIT, -SCORE_LIMIT,
                        10**400, 1e101])
evaluations = st.builds(
    Evaluation,
    score=st.none() | st.floats(allow_nan=False, allow_infinity=False) | huge.filter(
        lambda x: isinstance(x, float)),
    info=st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    solved=st.booleans())
results = st.none() | st.floats() | huge | st.integers() | st.booleans() | st.text(max_size=5) \
    | evaluations | st.just(object()) | st.binary(max_size=4)
result_lists = st.lists(results, max_size=10) | st.tuples(results, results) \
    | st.text(max_size=5) | st.none() | st.integers() | st.dictionaries(st.text(), results)


def _acceptable(r) -> bool:
    if isinstance(r, Evaluation):
        r = r.score
    if r is None:
        return True
    return isinstance(r, (int, float)) and not isinstance(r, bool) and abs(r) <= SCORE_LIMIT


STUDIES = itertools.count()


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz") / "tell.db")


def check_tell(storage: str, examples: int) -> int:
    seen = [0]

    @fuzz(examples)
    @given(batch=result_lists)
    def check(batch):
        seen[0] += 1
        db = SQLiteDatabase(storage, f"study-{next(STUDIES)}")  # a fresh study per example
        policy = ScriptedPolicy(fn=lambda p, rng: f'["{rng.randrange(10_000):04d}"]')
        opt = create("optimizer", "sample", ToyTask(), policy=policy, group_size=4, database=db)
        group = opt.ask()
        n = len(group.pending)
        valid = isinstance(batch, (list, tuple)) and len(batch) == n \
            and all(_acceptable(r) for r in batch)
        try:
            stored = opt.tell(group, batch)
        except TellError as exc:
            assert not valid, f"valid results rejected: {exc}"
            assert str(exc) and len(db) == 0  # a clear message, nothing stored
            # the group can still be told correctly afterwards
            assert len(opt.tell(group, [0.5] * n)) == n
            return
        assert valid, f"invalid results accepted: {batch!r}"
        assert len(stored) == n == len(db)
        for r, given_result in zip(db.records(), batch):
            expected = given_result.score if isinstance(given_result, Evaluation) \
                else given_result
            assert r.score == (None if expected is None else float(expected))

    check()
    return seen[0]


def test_tell_accepts_valid_results_and_rejects_the_rest_cleanly(storage):
    assert check_tell(storage, QUICK * 2) >= QUICK


@pytest.mark.slow
def test_tell_thoroughly(storage):
    assert check_tell(storage, THOROUGH) >= THOROUGH // 2


# -- task parsers -----------------------------------------------------------------------------
TASKS = registry().names("task")
_built: dict[str, object] = {}


def task_named(name: str):
    """Each installed task, built once with its default options (skipped, with the reason,
    when it cannot be built here)."""
    if name not in _built:
        try:
            _built[name] = create("task", name)
        except Exception as exc:  # noqa: BLE001 - a task needing data we lack is skipped
            _built[name] = exc
    task = _built[name]
    if isinstance(task, Exception):
        pytest.skip(f"task {name!r} cannot be built with defaults: {task}")
    return task


words = st.text(alphabet=string.ascii_letters + string.digits + "()=#[]@+-.\\/", max_size=30)
completions = st.one_of(
    st.text(max_size=300),
    st.lists(words, max_size=5).map(json.dumps),
    st.lists(words, max_size=5).map(lambda ws: "\n".join(f"{i + 1}. {w}" for i, w in
                                                         enumerate(ws))),
    words.map(lambda w: f"```python\ndef transform(grid):\n    return {w}\n```"),
    st.lists(st.lists(st.integers(-2, 12), max_size=4), max_size=4).map(json.dumps),
    st.from_regex(r"\A[A-Za-z0-9\[\]\(\)=#@+\-\\/]{0,40}\Z"),
)


def check_parser(name: str, examples: int) -> int:
    """Fuzz one task's parse/canonicalize; returns how many inputs were tried."""
    task = task_named(name)
    seen = [0]

    @fuzz(examples)
    @given(text=completions)
    def check(text):
        seen[0] += 1
        raw = task.parse(text)
        assert isinstance(raw, list) and all(isinstance(s, str) for s in raw)
        for s in [*raw, text]:
            canon = task.canonicalize(s)
            assert canon is None or isinstance(canon, str)
            if canon is not None:
                assert task.canonicalize(canon) == canon, "canonicalize is not idempotent"
        # what a replay writes (render) parses back to the same canonical solution
        for s in raw:
            canon = task.canonicalize(s)
            if canon is not None:
                back = [task.canonicalize(x) for x in task.parse(task.render([canon]))]
                assert canon in back, f"{canon!r} rendered as {task.render([canon])!r}"

    check()
    return seen[0]


@pytest.mark.parametrize("name", TASKS)
def test_task_parser_never_raises(name):
    assert check_parser(name, QUICK) >= QUICK // 2


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_task_parser_never_raises_thoroughly(name):
    assert check_parser(name, THOROUGH) >= THOROUGH // 2


# -- CLI options ------------------------------------------------------------------------------
OPTIONS = ["--method", "--budget", "--iterations", "--model", "--storage", "--study", "--seed",
           "--group-size", "--top-k", "--learning-rate", "--steps-per-group",
           "--temperature", "--max-new-tokens", "--executor", "--workers", "--timeout",
           "--ray-address", "--cpus-per-eval", "--stop-when-solved", "--no-progress",
           "--help-task", "--top", "--json", "-o", "--output", "--target", "--length",
           "--bogus", "--"]
COMMANDS = ["run", "resume", "show", "report", "plugins", "methods", "nope", ""]
# values never hold a "/", so no fuzzed path leaves the test's own folder
safe_text = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=["Cs"]),
                    max_size=12)
values = st.one_of(safe_text, st.integers(-5, 10**6).map(str), st.floats().map(str),
                   st.sampled_from(["toy", "random", "ray", "serial", "process", "auto",
                                    "tiny-random", "s.db", "none", "true", "0", "-1", "1e9",
                                    "nan", "=", "--target=12", "migrate"]))


@st.composite
def argvs(draw):
    argv = [draw(st.sampled_from(COMMANDS))]
    if argv[0] in ("run",):
        argv.append(draw(st.sampled_from(["toy", "toi", "semantle", "--budget", ""])))
    if argv[0] in ("resume", "show", "report"):
        argv.append(draw(st.sampled_from(["s.db", "missing.db", "", "."])))
    for _ in range(draw(st.integers(0, 6))):
        argv.append(draw(st.sampled_from(OPTIONS)))
        if draw(st.booleans()):
            argv.append(draw(values))
    return argv


@pytest.fixture
def cli_sandbox(tmp_path, monkeypatch):
    """Run the CLI in a folder holding a small study; `run` and `resume` parse and validate
    everything but stop short of loading a model."""
    monkeypatch.chdir(tmp_path)
    db = SQLiteDatabase("s.db", "s")
    opt = create("optimizer", "sample", ToyTask(), policy=ScriptedPolicy(['["1234"]', '["4213"]']),
                  group_size=2, database=db)
    group = opt.ask()
    opt.tell(group, [0.5] * len(group.pending))
    db.set_settings({**db.settings(), "cli": {"task": "toy", "task_options": {},
                                              "method": "sample", "seed": 0,
                                              "started_in": "s.db", "study": "s", "budget": 4}})
    calls = []
    monkeypatch.setattr(cli_run, "execute_study",
                        lambda config, *args, **kw: calls.append(config) or 0)
    return calls


def check_cli(calls: list, capsys, examples: int) -> int:
    seen = [0]

    @fuzz(examples)
    @given(argv=argvs())
    def check(argv):
        seen[0] += 1
        try:
            code = cli_main(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            code = exc.code
        out, err = capsys.readouterr()
        assert code in (0, 2), f"{argv!r} exited {code}: {err[-500:]}"
        assert "Traceback" not in err + out
        if code == 2:
            assert "error: " in err  # argparse's or ours, always one "error:" message
        for config in calls:
            assert isinstance(config["task_options"], dict)
            assert config["run"]["budget"] is None or isinstance(config["run"]["budget"], int)
        calls.clear()

    check()
    return seen[0]


def test_cli_options_give_a_result_or_one_clear_error(cli_sandbox, capsys):
    assert check_cli(cli_sandbox, capsys, QUICK * 2) >= QUICK


@pytest.mark.slow
def test_cli_options_thoroughly(cli_sandbox, capsys):
    assert check_cli(cli_sandbox, capsys, THOROUGH) >= THOROUGH // 2


# -- crafted study files: schemas, bytes and stored settings ---------------------------------
sql_names = st.sampled_from(["records", "studies", "groups", "leases", "x", "records_by_score",
                             "sqlite_sequence", "t1"])
crafted_sql = st.one_of(
    st.builds("CREATE TRIGGER {}_t AFTER INSERT ON {} BEGIN DELETE FROM records; END".format,
              st.sampled_from(["a", "b"]), st.sampled_from(["records", "groups", "leases"])),
    st.builds("CREATE VIEW {}_v AS SELECT 1".format, st.sampled_from(["a", "b"])),
    st.builds("CREATE TABLE IF NOT EXISTS {} (x)".format, sql_names),
    st.builds("CREATE INDEX IF NOT EXISTS {}_i ON records (source)".format,
              st.sampled_from(["a", "b"])),
    st.builds("ALTER TABLE {} ADD COLUMN extra TEXT".format,
              st.sampled_from(["records", "studies", "leases"])),
    st.builds("DROP INDEX IF EXISTS {}".format, sql_names),
    st.builds("DROP TABLE IF EXISTS {}".format, st.sampled_from(["leases", "metrics", "x"])),
    st.just("PRAGMA journal_mode=DELETE"),
    st.builds("UPDATE studies SET settings = {}".format,
              json_values.map(lambda v: "'" + json.dumps(v).replace("'", "''") + "'")),
)
byte_damage = st.lists(st.tuples(st.integers(0, 20_000), st.binary(min_size=1, max_size=64)),
                       max_size=3)


def check_crafted_files(tmp_path, capsys, examples: int) -> int:
    """A crafted file is shown and resumed-opened with a result or one StorageError line; a
    refused file is left as it was."""
    base = tmp_path / "base.db"
    with SQLiteDatabase(str(base), "s") as db:
        db.add([Record(solution=f"{i:04d}", score=float(i)) for i in range(30)])
    seen = [0]

    @fuzz(examples)
    @given(statements=st.lists(crafted_sql, max_size=3), damage=byte_damage)
    def check(statements, damage):
        seen[0] += 1
        path = tmp_path / f"crafted-{seen[0]}.db"
        path.write_bytes(base.read_bytes())
        conn = sqlite3.connect(path)
        applied = []
        for sql in statements:
            try:
                conn.execute(sql)
                applied.append(sql)
            except sqlite3.Error:
                pass  # the crafted SQL does not apply to this file (a name already taken)
        conn.commit()
        conn.close()
        with open(path, "r+b") as f:
            for offset, data in damage:
                f.seek(offset)
                f.write(data)
        before = path.read_bytes()
        code = cli_main(["show", str(path)])
        out, err = capsys.readouterr()
        assert code in (0, 2) and "Traceback" not in err
        assert code == 0 or len(err.strip().splitlines()) == 1, err
        try:
            SQLiteDatabase(str(path), "s").close()
        except StorageError as exc:
            assert "\n" not in str(exc)
            assert path.read_bytes() == before  # refused before any write
            return
        ours = {"DROP", "PRAGMA", "UPDATE"}
        assert damage or all(sql.split()[0] in ours or "IF NOT EXISTS" in sql and "TABLE" in sql
                   and sql.split()[-2] in SCHEMA_TABLES for sql in applied), applied

    check()
    return seen[0]


SCHEMA_TABLES = {"records", "studies", "groups", "leases"}


def test_crafted_study_files_give_a_result_or_one_line(tmp_path, capsys):
    assert check_crafted_files(tmp_path, capsys, QUICK) >= QUICK // 2


@pytest.mark.slow
def test_crafted_study_files_thoroughly(tmp_path, capsys):
    assert check_crafted_files(tmp_path, capsys, THOROUGH // 3) >= THOROUGH // 6
