"""The tasks inside the core's loop: ask/tell with a scripted policy, dedup by canonical
SMILES, and docking through the core's process executor."""

from __future__ import annotations

from pathlib import Path

from migrate_opt_molecules.docking.task import DockstringTask
from migrate_opt_molecules.objectives import QEDTask
from migrate_opt_molecules.testing import FAKE

from migrate_opt import Migrate, ProcessExecutor, run
from migrate_opt.testing import ScriptedPolicy

COMPLETIONS = ['["CCO"]', "Try OCC.", '["c1ccccc1O"]', "no idea", '["C1CC"]',
               '```\nCC(=O)Nc1ccc(O)cc1\n```']


def test_migrate_loop_on_qed_dedups_spellings() -> None:
    task = QEDTask()
    opt = Migrate(task, policy=ScriptedPolicy(COMPLETIONS), method="random", group_size=6,
                  seed=0)
    result = run(opt, iterations=2, progress=False)
    solutions = {r.solution for r in opt.database.top(10)}
    assert solutions == {"CCO", "Oc1ccccc1", "CC(=O)Nc1ccc(O)cc1"}  # OCC == CCO: one eval
    assert result.evaluations == 3
    assert result.best[0].solution == "CC(=O)Nc1ccc(O)cc1"  # paracetamol has the best QED


def test_docking_task_through_the_process_executor(tmp_path: Path) -> None:
    task = DockstringTask(backend=FAKE, cache_path=str(tmp_path / "c.sqlite"))
    opt = Migrate(task, policy=ScriptedPolicy(COMPLETIONS), method="random", group_size=6)
    with ProcessExecutor(workers=1, timeout=120) as executor:
        result = run(opt, iterations=1, executor=executor, progress=False)
    assert result.evaluations == 3
    assert all(r.score is not None and "vina" in r.info for r in opt.database.top(10))
