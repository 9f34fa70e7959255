"""Reliability machinery: kill -9 a running study at chosen points and resume it, and read
the storage (show, report) while a run writes. Used by the test suite and by the
``reliability`` benchmark, which prints the figures.

A study is run by a real subprocess (``writer`` below, started as ``python -m
migrate_opt.testing.reliability writer ...``: ToyTask, scripted random guesses, SQLite
storage, a journal line after every stored group), or by ``migrate-opt run``/``resume``.
The process is killed with SIGKILL once the study holds a chosen number of records (an
event, read from the file, so every kill lands mid-run), and resumed, until its budget is
spent. After every kill the storage is checked: every record the killed process had
stored (its journal) and every record seen before the kill is still there exactly once,
unchanged, numbered without gaps."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .events import EventTimeout, wait_for

STUDY = "reliability"


# -- the process that gets killed ------------------------------------------------------------
def writer(db_path: str, journal_path: str, budget: int, delay: float, seed: int) -> None:
    """Run (or resume) the study to ``budget`` evaluations, journaling each stored record."""
    from ..factory import create_optimizer
    from ..loop import run
    from ..storage import SQLiteDatabase
    from .scripted import ScriptedPolicy
    from .toy import ToyTask

    class SlowToy(ToyTask):
        def evaluate(self, solutions):
            time.sleep(delay * len(solutions))  # an objective that takes time to answer
            return super().evaluate(solutions)

    def guess(prompt: str, rng: random.Random) -> str:
        return f'["{rng.randrange(10**6):06d}"]' if rng.random() > 0.05 else "no idea"

    db = SQLiteDatabase(db_path, STUDY)
    opt = create_optimizer("migrate", SlowToy(length=6, target_seed=seed),
                 policy=ScriptedPolicy(fn=guess), group_size=8, train=False, database=db,
                 seed=seed)
    print("ready", flush=True)  # the harness times its kill from here, not from start-up
    with open(journal_path, "a") as journal:

        def log_stored(_opt, _group, records):  # written only after the commit returned
            journal.writelines(json.dumps(_key(r)) + "\n" for r in records)
            journal.flush()
            os.fsync(journal.fileno())

        run(opt, budget=budget, callbacks=[log_stored], progress=False)


def trainer(db_path: str, groups: int, delay: float, seed: int, every: int) -> None:
    """Run (or resume) a *training* MiGrATe study (tiny random model) to ``groups`` groups,
    writing its checkpoint every ``every`` groups and at the end (never by time)."""
    from ..factory import create_optimizer, load_policy
    from ..grpo import GRPOConfig
    from ..loop import run
    from ..storage import SQLiteDatabase
    from .toy import DigitShareTask

    class SlowDigits(DigitShareTask):
        def evaluate(self, solutions):
            time.sleep(delay * len(solutions))
            return super().evaluate(solutions)

    db = SQLiteDatabase(db_path, STUDY)
    opt = create_optimizer("migrate", SlowDigits(), policy=load_policy("tiny-random", seed=0),
                           group_size=6, grpo=GRPOConfig(learning_rate=5e-2, steps_per_group=1),
                           database=db, seed=seed, checkpoint_every=every,
                           checkpoint_seconds=None)
    print("ready", flush=True)
    run(opt, iterations=groups - opt.iteration, progress=False)


def trainer_command(db: Path, groups: int, delay: float, seed: int, every: int) -> list[str]:
    return [sys.executable, "-m", __name__, "trainer", str(db), str(groups), str(delay),
            str(seed), str(every)]


def training_state(db: Path) -> tuple[int, int]:
    """(iteration of the last stored group, iteration of the checkpoint), -1 where none."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return -1, -1
    try:
        out = []
        for table in ("groups", "checkpoints"):
            row = con.execute(f"SELECT MAX(iteration) FROM {table} WHERE study = ?",
                              (STUDY,)).fetchone()
            out.append(-1 if row[0] is None else int(row[0]))
        return out[0], out[1]
    except sqlite3.OperationalError:
        return -1, -1
    finally:
        con.close()


@dataclass
class CheckpointKill:
    """A training study killed after a group stored past its checkpoint, then resumed."""

    at_kill: tuple[int, int]
    """(last stored group, checkpoint) when the process was killed."""
    killed: bool
    resumed: list[list]
    uninterrupted: list[list]
    checkpoints_equal: bool
    """The final adapter and optimizer state of both runs are the same tensors."""
    problems: list[str] = field(default_factory=list)


def kill_past_checkpoint(workdir: Path, *, groups: int = 8, every: int = 3,
                         delay: float = 0.03, seed: int = 0) -> CheckpointKill:
    """Run a training study uninterrupted; run it again and SIGKILL it once a group is
    stored after its first checkpoint (the next checkpoint is groups away), resume it to
    the end, and compare records and final training state with the uninterrupted run."""
    whole, cut = workdir / "whole.db", workdir / "cut.db"
    problems = []
    done = subprocess.run(trainer_command(whole, groups, delay, seed, every), capture_output=True,
                          text=True, timeout=600)
    if done.returncode:
        problems.append(f"uninterrupted run failed: {done.stderr[-500:]}")
    proc = subprocess.Popen(trainer_command(cut, groups, delay, seed, every),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def past_checkpoint() -> bool:
        last, checkpoint = training_state(cut)
        return proc.poll() is not None or 0 <= checkpoint < last

    wait_for(past_checkpoint, "a group stored after the first checkpoint", timeout=600)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.communicate()
    at_kill = training_state(cut)
    again = subprocess.run(trainer_command(cut, groups, delay, seed, every),
                           capture_output=True, text=True, timeout=600)
    if again.returncode:
        problems.append(f"resume failed: {again.stderr[-500:]}")
    return CheckpointKill(at_kill, killed, snapshot(str(cut)), snapshot(str(whole)),
                          _same_checkpoint(whole, cut), problems)


def _same_checkpoint(a: Path, b: Path) -> bool:
    import torch

    from ..storage import SQLiteDatabase
    from ..storage.checkpoint import decode

    states = []
    for path in (a, b):
        with SQLiteDatabase(str(path), STUDY, readonly=True) as d:
            stored_checkpoint = d.load_checkpoint()
        if stored_checkpoint is None:
            return False
        states.append((stored_checkpoint[0], decode(stored_checkpoint[1])))
    (it_a, (pol_a, opt_a)), (it_b, (pol_b, opt_b)) = states
    same_moments = all(
        torch.equal(x[k], y[k]) for x, y in zip(opt_a["state"].values(), opt_b["state"].values(),
                                                strict=True) for k in x)
    return it_a == it_b and pol_a.keys() == pol_b.keys() and all(
        torch.equal(pol_a[k], pol_b[k]) for k in pol_a) and same_moments


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
    from ..storage import SQLiteDatabase

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


def writer_command(db: Path, journal: Path, budget: int, delay: float, seed: int) -> list[str]:
    return [sys.executable, "-m", __name__, "writer", str(db), str(journal), str(budget),
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
                target, "--no-stop-when-solved"]  # the kills need the whole budget

    return command


def _settings(db: Path) -> dict:
    from ..storage import SQLiteDatabase

    with SQLiteDatabase(str(db), STUDY, readonly=True) as d:
        return d.settings()


def stored(db: Path) -> int:
    """Records the study holds now (0 before the file or its tables exist), read-only."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return int(con.execute("SELECT COUNT(*) FROM records WHERE study = ?",
                               (STUDY,)).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def kill_point(rng: random.Random, have: int, budget: int, stride: int) -> int | None:
    """The record count at which to kill the next run: a random point after at least one
    more stored group and at least a tenth of the budget before its end (so the run is
    certainly still going when the kill comes); None when no such point is left."""
    first, last = have + 1, min(budget - max(1, budget // 10), have + stride)
    return rng.randint(first, last) if first <= last else None


def _kill_at(proc: subprocess.Popen, db: Path, count: int | None) -> bool:
    """Wait until the study holds ``count`` records, then SIGKILL ``proc``; False when the
    process ended first (or there is no point to kill at)."""
    if count is None:
        proc.wait(timeout=600)
        return False
    try:
        wait_for(lambda: proc.poll() is not None or stored(db) >= count,
                 f"{count} stored records", timeout=600)
    except EventTimeout:
        pass
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def kill_trials(
    workdir: Path, *, kills: int, budget: int, delay: float = 0.02, seed: int = 0,
    stride: int | None = None, command: Callable[..., list[str]] = writer_command,
) -> Tally:
    """Run one study, killing its process ``kills`` times, each once the study holds a
    random number of records (up to ``stride``, default a third of the budget, more than
    before the run), resuming after each, then let it finish. A study that completes
    before the kills are done is followed by a new one. ``command`` builds the writer's
    command line (default: ``writer``)."""
    rng = random.Random(seed)
    stride = stride or max(1, budget // 3)
    db, journal = workdir / "study.db", workdir / "journal.jsonl"
    tally, start = Tally(budget=budget), time.monotonic()
    before: list[list] = []
    while tally.kills < kills:
        proc = subprocess.Popen(command(db, journal, budget, delay, seed),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tally.runs += 1
        _wait_ready(proc, cli=command is not writer_command)
        killed = _kill_at(proc, db, kill_point(rng, len(before), budget, stride))
        tally.kills += killed
        tally.finished_early += not killed
        err = proc.communicate()[1].decode()
        if proc.returncode not in (0, -signal.SIGKILL):
            tally.problems.append(f"writer failed: {err[-500:]}")
            break
        before = _after_run(db, journal, before, killed, tally)
        if len(before) >= budget:  # this study is complete: start another, kills go on
            tally.final_evaluations += len(before)
            tally.studies += 1
            db, journal = workdir / f"study{tally.runs}.db", workdir / f"journal{tally.runs}.jsonl"
            before = []
    _finish(command(db, journal, budget, delay, seed), db, journal, before, tally)
    tally.seconds = time.monotonic() - start
    return tally


def _after_run(db: Path, journal: Path, before: list[list], killed: bool,
               tally: Tally) -> list[list]:
    """Check the storage after one run; what it holds now."""
    if not db.exists():
        return before
    rows = snapshot(str(db))
    check(rows, before, _journal(journal), tally)
    if killed and len(before) < len(rows) < tally.budget:
        tally.kills_mid_run += 1
    return rows


def _finish(cmd: list[str], db: Path, journal: Path, before: list[list], tally: Tally) -> None:
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if final.returncode != 0:
        tally.problems.append(f"final resume failed: {final.stderr[-500:]}")
    rows = snapshot(str(db))
    check(rows, before, _journal(journal), tally)
    tally.final_evaluations += len(rows)
    if len(rows) != tally.budget:
        tally.problems.append(f"final study has {len(rows)} evaluations, budget {tally.budget}")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "trainer":
        _, _, db_, groups_, delay_, seed_, every_ = sys.argv
        trainer(db_, int(groups_), float(delay_), int(seed_), int(every_))
        sys.exit(0)
    if len(sys.argv) != 7 or sys.argv[1] != "writer":
        sys.exit("usage: python -m migrate_opt.testing.reliability writer DB JOURNAL BUDGET "
                 "DELAY SEED")
    _, _, db_, journal_, budget_, delay_, seed_ = sys.argv
    writer(db_, journal_, int(budget_), float(delay_), int(seed_))
