"""A short real docking run: MiGrATe with SmolLM2 on one DOCKSTRING target for a few
iterations, end to end (generation, parsing, docking with AutoDock Vina, GRPO), with its
cost split per iteration.

    python benchmarks/molecules_docking_run.py --target ABL1 --iterations 3 --group-size 5

The docking cache starts empty (a temp file) unless ``--cache-path`` is given, so the cost
is that of real dockings."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import migrate_opt
from migrate_opt.policy import load_policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="ABL1")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--group-size", type=int, default=5)
    ap.add_argument("--method", default="migrate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per docking")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--cache-path", default=None)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--out-dir", default="benchmarks/results")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    cache = args.cache_path or str(Path(tmp.name) / "docking.sqlite")
    task = migrate_opt.create("task", "dockstring", target=args.target, dock_timeout=args.timeout,
                              parallel=args.parallel, cpus=args.cpus, cache_path=cache)
    start = time.perf_counter()
    opt = migrate_opt.create("optimizer", args.method, task, policy=load_policy(args.model),
                              group_size=args.group_size, seed=args.seed)
    setup = time.perf_counter() - start
    rows: list[dict[str, Any]] = []

    def record(o: Any, group: Any, records: Any) -> None:
        t = group.timings
        rows.append({
            "iteration": group.iteration, "completions": len(group.members),
            "parsed": sum(bool(m.solutions) for m in group.members if not m.is_replay),
            "new_molecules": len(records),
            "docked_ok": sum(r.score is not None for r in records),
            "errors": [r.info.get("error") for r in records if r.score is None],
            "generate_s": round(t.get("generate", 0.0), 1),
            "evaluate_s": round(t.get("evaluate", 0.0), 1),
            "train_s": round(t.get("train", 0.0), 1), "total_s": round(t.get("total", 0.0), 1),
            "best": o.best(1)[0].score if o.best(1) else None,
        })
        print(json.dumps(rows[-1]), flush=True)

    result = migrate_opt.run(opt, iterations=args.iterations, callbacks=[record],
                             progress=False)
    wall = time.perf_counter() - start
    best = [{"smiles": r.solution, "score": r.score, "vina": r.info.get("vina"),
             "qed": r.info.get("qed")} for r in opt.best(5)]
    command = "python benchmarks/molecules_docking_run.py " + " ".join(sys.argv[1:])
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "molecules_docking_run.json").write_text(json.dumps(
        {"command": command, "machine": f"{os.cpu_count()} cores ({platform.machine()}), shared",
         "setup_seconds": round(setup, 1), "wall_seconds": round(wall, 1),
         "dockings": task.engine.dockings, "evaluations": result.evaluations,
         "iterations": rows, "best": best, "time_split": result.seconds}, indent=2,
        default=str))
    lines = [f"# MiGrATe on DOCKSTRING {args.target}: {args.iterations} iterations", "",
             f"Command: `{command}`  ",
             f"Machine: {os.cpu_count()} shared cores; model load and setup {setup:.0f} s; "
             f"wall time {wall / 60:.1f} min; {task.engine.dockings} dockings run; "
             f"{result.evaluations} molecules evaluated.", "",
             "| iteration | completions | parsed | new molecules | docked | generate s "
             "| dock s | GRPO s | total s | best score |", "|---" * 10 + "|"]
    lines += [f"| {r['iteration']} | {r['completions']} | {r['parsed']} | {r['new_molecules']} "
              f"| {r['docked_ok']} | {r['generate_s']} | {r['evaluate_s']} | {r['train_s']} | "
              f"{r['total_s']} | {r['best']} |" for r in rows]
    lines += ["", "Best molecules:", ""] + [
        f"- `{b['smiles']}`: score {b['score']:.3f} (Vina {b['vina']}, QED {b['qed']})"
        for b in best]
    (out / "molecules_docking_run.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    tmp.cleanup()


if __name__ == "__main__":
    main()
