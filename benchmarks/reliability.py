"""Reliability, measured: kill -9 a running study at random points and resume it, and read
the storage (show, report) while a run writes.

    python benchmarks/reliability.py --kills 25 --budget 300 --readers 2 --seed 0

A study is run by a real subprocess (``writer`` below: ToyTask, scripted random guesses,
SQLite storage, a journal line after every stored group), killed with SIGKILL after a random
delay, and resumed, until its budget is spent. After every kill the storage is checked:
every record the killed process had stored (its journal) and every record seen before the
kill is still there exactly once, unchanged, numbered without gaps. Prints the figures and
writes them to benchmarks/results/reliability.{md,json}."""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve()
STUDY = "reliability"


# -- the process that gets killed ------------------------------------------------------------
def writer(db_path: str, journal_path: str, budget: int, delay: float, seed: int) -> None:
    """Run (or resume) the study to ``budget`` evaluations, journaling each stored record."""
    from migrate_opt import SQLiteDatabase, create, run
    from migrate_opt.testing import ScriptedPolicy, ToyTask

    class SlowToy(ToyTask):
        def evaluate(self, solutions):
            time.sleep(delay * len(solutions))  # an objective that takes time to answer
            return super().evaluate(solutions)

    def guess(prompt: str, rng: random.Random) -> str:
        return f'["{rng.randrange(10**6):06d}"]' if rng.random() > 0.05 else "no idea"

    db = SQLiteDatabase(db_path, STUDY)
    opt = create("optimizer", "migrate", SlowToy(length=6, target_seed=seed),
                 policy=ScriptedPolicy(fn=guess), group_size=8, train=False, database=db,
                 seed=seed)
    print("ready", flush=True)  # the harness times its kill from here, not from start-up
    with open(journal_path, "a") as journal:

        def log_stored(_opt, _group, records):  # written only after the commit returned
            journal.writelines(json.dumps(_key(r)) + "\n" for r in records)
            journal.flush()
            os.fsync(journal.fileno())

        run(opt, budget=budget, callbacks=[log_stored], progress=False)


def _key(r) -> list:  # type: ignore[no-untyped-def]
    return [r.seq, r.solution, r.score, r.iteration]


# -- checks ----------------------------------------------------------------------------------
@dataclass
class Tally:
    kills: int = 0
    """Processes killed with SIGKILL while running."""
    kills_mid_run: int = 0
    """Kills that cut a run which had stored records (not at start-up, not after the end)."""
    finished_early: int = 0
    """Trials where the process finished before its kill came."""
    runs: int = 0
    """Processes started (the first run of a study and every resume)."""
    studies: int = 1
    """Studies run to their budget (a new one starts when one completes before the kills)."""
    records_checked: int = 0
    """Record-presence checks made after kills (journal and earlier snapshots)."""
    records_lost: int = 0
    records_changed: int = 0
    duplicates: int = 0
    gaps: int = 0
    groups_missing: int = 0
    final_evaluations: int = 0
    budget: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def snapshot(db_path: str) -> list[list]:
    """Every record of the study, in evaluation order, as comparable keys."""
    from migrate_opt import SQLiteDatabase

    db = SQLiteDatabase(db_path, STUDY, readonly=True)
    try:
        rows = [_key(r) for r in db.records()]
        iterations = {it for it, _ in db.groups()}
    finally:
        db.close()
    for row in rows:
        row.append(row[3] in iterations)  # every record's group was stored with it
    return rows


def check(rows: list[list], before: list[list], journal: list[list], tally: Tally) -> None:
    """Compare the storage after a kill with what was stored before it."""
    keys = [r[:4] for r in rows]
    by_seq = {r[0]: r[:4] for r in rows}
    tally.duplicates += len(rows) - len({r[1] for r in rows})
    tally.gaps += sum(1 for i, r in enumerate(rows) if r[0] != i)
    tally.groups_missing += sum(1 for r in rows if not r[4])
    for old in [b[:4] for b in before] + journal:
        tally.records_checked += 1
        now = by_seq.get(old[0])
        if now is None:
            tally.records_lost += 1
            tally.problems.append(f"lost {old}")
        elif now != old:
            tally.records_changed += 1
            tally.problems.append(f"changed {old} -> {now}")
    if keys[: len(before)] != [b[:4] for b in before]:
        tally.problems.append("records seen before the kill are no longer a prefix")


def _wait_ready(proc: subprocess.Popen, cli: bool = False) -> None:
    """Wait until the writer has opened its study (or exited): ours says so on stdout, the
    CLI's "starting/resuming study" line comes on stderr."""
    stream = proc.stderr if cli else proc.stdout
    assert stream is not None
    ready, _, _ = select.select([stream], [], [], 120)
    if ready:
        stream.readline()


def _journal(path: Path) -> list[list]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    # the last line may be cut by the kill: it was never acknowledged, skip it
    return [json.loads(x) for x in lines if x.endswith("]")]


def _writer_cmd(db: Path, journal: Path, budget: int, delay: float, seed: int) -> list[str]:
    return [sys.executable, str(HERE), "writer", str(db), str(journal), str(budget),
            str(delay), str(seed)]


def cli_command(method: str = "ga", target: str = "12345678") -> Callable[..., list[str]]:
    """The writer as the real CLI: ``migrate-opt run`` a non-LLM optimizer on the toy task,
    then ``migrate-opt resume`` once the study is stored (no journal: snapshots only)."""

    def command(db: Path, journal: Path, budget: int, delay: float, seed: int) -> list[str]:
        cli = [sys.executable, "-m", "migrate_opt.cli"]
        if db.exists() and "cli" in _settings(db):
            return [*cli, "resume", str(db), "--study", STUDY, "--no-progress"]
        return [*cli, "run", "toy", "--method", method, "--budget", str(budget), "--storage",
                str(db), "--study", STUDY, "--seed", str(seed), "--no-progress", "--target",
                target]

    return command


def _settings(db: Path) -> dict:
    from migrate_opt import SQLiteDatabase

    with SQLiteDatabase(str(db), STUDY, readonly=True) as d:
        return d.settings()


def kill_trials(
    workdir: Path, *, kills: int, budget: int, delay: float = 0.02, seed: int = 0,
    max_wait: float = 1.5, command: Callable[..., list[str]] = _writer_cmd,
) -> Tally:
    """Run one study, killing its process ``kills`` times at random delays (uniform in
    [0, max_wait] s from the moment it has opened its study), resuming after each, then
    let it finish. ``command`` builds the writer's command line (default: ``writer``)."""
    rng = random.Random(seed)
    db, journal = workdir / "study.db", workdir / "journal.jsonl"
    tally, start = Tally(budget=budget), time.monotonic()
    before: list[list] = []
    while tally.kills < kills:
        proc = subprocess.Popen(command(db, journal, budget, delay, seed),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tally.runs += 1
        killed = False
        try:
            _wait_ready(proc, cli=command is not _writer_cmd)
            proc.wait(timeout=rng.uniform(0, max_wait))
            tally.finished_early += 1
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            tally.kills += 1
            killed = True
        err = proc.communicate()[1].decode()
        if proc.returncode not in (0, -signal.SIGKILL):
            tally.problems.append(f"writer failed: {err[-500:]}")
            break
        if db.exists():
            rows = snapshot(str(db))
            check(rows, before, _journal(journal), tally)
            if killed and len(before) < len(rows) < budget:
                tally.kills_mid_run += 1
            before = rows
        if len(before) >= budget:  # this study is complete: start another, kills go on
            tally.final_evaluations += len(before)
            tally.studies += 1
            db, journal = workdir / f"study{tally.runs}.db", workdir / f"journal{tally.runs}.jsonl"
            before = []
    final = subprocess.run(command(db, journal, budget, delay, seed),
                           capture_output=True, text=True, timeout=600)
    if final.returncode != 0:
        tally.problems.append(f"final resume failed: {final.stderr[-500:]}")
    rows = snapshot(str(db))
    check(rows, before, _journal(journal), tally)
    tally.final_evaluations += len(rows)
    if len(rows) != budget:
        tally.problems.append(f"final study has {len(rows)} evaluations, budget {budget}")
    tally.seconds = time.monotonic() - start
    return tally


# -- concurrent readers ----------------------------------------------------------------------
@dataclass
class ReadTally:
    reads: int = 0
    """In-process snapshot reads (records, top, settings, metrics)."""
    cli_reads: int = 0
    """`migrate-opt show` and `migrate-opt report` processes run."""
    errors: list[str] = field(default_factory=list)
    inconsistent: int = 0
    """Snapshots with a gap, a duplicate, or fewer records than an earlier one."""
    final_evaluations: int = 0


def concurrent_readers(
    workdir: Path, *, budget: int, readers: int = 2, delay: float = 0.02, seed: int = 0
) -> ReadTally:
    """Run a writer to ``budget`` while reader processes (show, report) and an in-process
    reader hammer the same file."""
    db, journal = workdir / "study.db", workdir / "journal.jsonl"
    tally = ReadTally()
    proc = subprocess.Popen(_writer_cmd(db, journal, budget, delay, seed),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not _holds_study(db) and proc.poll() is None:
        time.sleep(0.02)
    stop = threading.Event()
    threads = [threading.Thread(target=_cli_reader, args=(db, workdir, i, stop, tally))
               for i in range(readers)]
    for t in threads:
        t.start()
    last = 0
    while proc.poll() is None:
        try:
            last = _read_once(str(db), last, tally)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding to report
            tally.errors.append(f"in-process read: {type(exc).__name__}: {exc}")
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    err = proc.communicate()[1]
    if proc.returncode != 0:
        tally.errors.append(f"writer failed: {err[-500:]}")
    tally.final_evaluations = len(snapshot(str(db)))
    return tally


def _holds_study(db: Path) -> bool:
    """Whether the writer has created its study (readers open the file read-only)."""
    from migrate_opt.storage import list_studies

    try:
        return db.exists() and STUDY in list_studies(str(db))
    except Exception:  # noqa: BLE001 - the schema is being written
        return False


def _read_once(db_path: str, last: int, tally: ReadTally) -> int:
    from migrate_opt import SQLiteDatabase

    db = SQLiteDatabase(db_path, STUDY, readonly=True)
    try:
        records = db.records()
        db.top(5), db.settings(), db.metrics(), db.groups()
    finally:
        db.close()
    seqs = [r.seq for r in records]
    if seqs != list(range(len(seqs))) or len({r.solution for r in records}) != len(records) \
            or len(records) < last:
        tally.inconsistent += 1
    tally.reads += 1
    return len(records)


def _cli_reader(db: Path, workdir: Path, i: int, stop: threading.Event, t: ReadTally) -> None:
    page = workdir / f"report{i}.html"
    while True:  # at least one read, even when the writer was quicker than this thread
        cmd = ["show", str(db), "--json"] if t.cli_reads % 2 == 0 else \
              ["report", str(db), "-o", str(page)]
        out = subprocess.run([sys.executable, "-m", "migrate_opt.cli", *cmd],
                             capture_output=True, text=True, timeout=300)
        t.cli_reads += 1
        if out.returncode != 0 or "Traceback" in out.stderr or "locked" in out.stderr:
            t.errors.append(f"{cmd[0]}: rc={out.returncode} {out.stderr.strip()[-300:]}")
        if stop.is_set():
            return


# -- the benchmark ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=25)
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--readers", type=int, default=2)
    p.add_argument("--seeds", type=int, default=1, help="independent kill series")
    p.add_argument("--cli-budget", type=int, default=1500,
                   help="budget of the CLI series (needs the baselines plugin); 0: skip it")
    p.add_argument("--out", default=str(HERE.parent / "results"))
    args = p.parse_args(argv)
    import tempfile

    start = time.monotonic()
    kills, writers = [], []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            kills.append(kill_trials(Path(tmp), kills=args.kills, budget=args.budget,
                                     seed=seed))
            writers.append("Python API (Migrate, scripted policy)")
        if args.cli_budget:
            with tempfile.TemporaryDirectory() as tmp:
                kills.append(kill_trials(Path(tmp), kills=args.kills, budget=args.cli_budget,
                                         seed=seed, command=cli_command()))
                writers.append("CLI run/resume (ga)")
    with tempfile.TemporaryDirectory() as tmp:
        reads = concurrent_readers(Path(tmp), budget=args.budget * 2, readers=args.readers)
    result = {"command": " ".join(["python benchmarks/reliability.py", *(argv or sys.argv[1:])]),
              "kill_series": [{"writer": w, **asdict(k)} for w, k in zip(writers, kills)],
              "readers": asdict(reads),
              "wall_seconds": round(time.monotonic() - start, 1)}
    _write(Path(args.out), result)
    print(_markdown(result))
    bad = any(k.problems or k.records_lost or k.duplicates for k in kills) or reads.errors \
        or reads.inconsistent
    return 1 if bad else 0


KILL_COLUMNS = {
    "kills": "kills survived", "kills_mid_run": "of them mid-run",
    "finished_early": "finished before the kill", "runs": "runs", "studies": "studies",
    "records_checked": "record checks", "records_lost": "lost",
    "records_changed": "changed", "duplicates": "duplicated", "gaps": "seq gaps",
    "groups_missing": "groups missing", "final_evaluations": "evaluations at the end",
}


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(map(str, row)) + " |" for row in rows]]


def _markdown(result: dict) -> str:
    ks = result["kill_series"]
    r = result["readers"]
    lines = ["# Reliability: kill -9 and resume, concurrent readers", "",
             f"Command: `{result['command']}` ({result['wall_seconds']} s wall)", ""]
    header = ["writer", "budget", *KILL_COLUMNS.values(), "seconds"]
    lines += _table(header, [[k["writer"], k["budget"], *[k[f] for f in KILL_COLUMNS],
                              round(k["seconds"])] for k in ks])
    lines += [""] + _table(
        ["in-process reads", "CLI show/report runs", "reader errors",
         "inconsistent snapshots", "evaluations written meanwhile"],
        [[r["reads"], r["cli_reads"], len(r["errors"]), r["inconsistent"],
          r["final_evaluations"]]])
    problems = [p for k in ks for p in k["problems"]] + r["errors"]
    if problems:
        lines += ["", "Problems:", *[f"- {p}" for p in problems[:20]]]
    return "\n".join(lines) + "\n"


def _write(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "reliability.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "reliability.md").write_text(_markdown(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "writer":
        _, _, db_, journal_, budget_, delay_, seed_ = sys.argv
        writer(db_, journal_, int(budget_), float(delay_), int(seed_))
        sys.exit(0)
    sys.exit(main())
