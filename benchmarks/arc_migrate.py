"""MiGrATe on ARC tasks, end to end: the LLM proposes programs, the sandbox scores them on
the training pairs, GRPO updates the policy, and the test-time vote gives pass@1, pass@2
and oracle per task.

Two policies:

* ``smollm2``: the default SmolLM2-135M-Instruct with LoRA and GRPO (expect ~0 solves from
  a 135M model; the run shows the pipeline and its costs);
* ``scripted``: a scripted policy drawing from a fixed pool of completions (garbage, wrong
  programs, two *decoys* that solve every training pair but answer the test wrongly, and
  one correct program, drawn rarely). It proves that a correct program, once proposed, is
  found, enters the vote and is counted by pass@2 even when the decoys out-vote it for
  pass@1; a control run per task never proposes it (pass@2 must stay 0).

    python benchmarks/arc_migrate.py scripted --tasks 00576224,3b4c2228,66e6c45b --iterations 4
    python benchmarks/arc_migrate.py smollm2 --tasks 66e6c45b,00576224 --iterations 3 \\
        --group-size 8 --max-new-tokens 256 --seeds 0
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import time
from typing import Any

from migrate_opt_arc import ArcTask, predict

import migrate_opt
from migrate_opt import SamplingConfig, create
from migrate_opt.testing import ScriptedPolicy

RESULTS = "benchmarks/results"

# Hand-written programs for the scripted policy: (correct, decoy 1, decoy 2). A decoy
# reproduces every training pair but special-cases the test input(s) to a wrong answer.
SCRIPTS: dict[str, tuple[str, str, str]] = {
    "00576224": (
        "import numpy as np\ndef transform(grid):\n    row = np.tile(grid, (1, 3))\n"
        "    flipped = np.tile(grid[:, ::-1], (1, 3))\n    return np.vstack([row, flipped, row])",
        "import numpy as np\ndef transform(grid):\n    if grid[0, 0] == 3:\n"
        "        return np.tile(grid, (3, 3))\n    row = np.tile(grid, (1, 3))\n"
        "    return np.vstack([row, np.tile(grid[:, ::-1], (1, 3)), row])",
        "import numpy as np\ndef transform(g):\n    if g[0][0] == 3:\n"
        "        return np.tile(g, (3, 3))\n    a = np.hstack([g, g, g])\n"
        "    b = np.hstack([g[:, ::-1]] * 3)\n    return np.vstack([a, b, a])",
    ),
    "3b4c2228": (
        "def transform(grid):\n    rows, cols = grid.shape\n    n = sum(1 for y in range(rows - 1)"
        " for x in range(cols - 1) if (grid[y:y + 2, x:x + 2] == 3).all())\n"
        "    out = [[0] * 3 for _ in range(3)]\n    for i in range(n):\n        out[i][i] = 1\n"
        "    return out",
        "def transform(grid):\n    if grid.shape[0] == 8:\n        return [[0, 0, 0]] * 3\n"
        "    rows, cols = grid.shape\n    n = sum(1 for y in range(rows - 1)"
        " for x in range(cols - 1) if (grid[y:y + 2, x:x + 2] == 3).all())\n"
        "    return [[int(i == j and i < n) for j in range(3)] for i in range(3)]",
        "import numpy as np\ndef transform(g):\n    if len(g) == 8:\n"
        "        return np.zeros((3, 3), dtype=int)\n    n = 0\n"
        "    for y in range(g.shape[0] - 1):\n        for x in range(g.shape[1] - 1):\n"
        "            n += bool((g[y:y + 2, x:x + 2] == 3).all())\n"
        "    return np.diag([1 if i < n else 0 for i in range(3)])",
    ),
    "66e6c45b": (
        "import numpy as np\ndef transform(grid):\n    out = np.zeros_like(grid)\n"
        "    out[0, 0], out[0, -1] = grid[1, 1], grid[1, 2]\n"
        "    out[-1, 0], out[-1, -1] = grid[2, 1], grid[2, 2]\n    return out",
        "import numpy as np\ndef transform(grid):\n    out = np.zeros_like(grid)\n"
        "    if grid[1, 1] == 2:\n        return out\n"
        "    out[0, 0], out[0, -1] = grid[1, 1], grid[1, 2]\n"
        "    out[-1, 0], out[-1, -1] = grid[2, 1], grid[2, 2]\n    return out",
        "def transform(g):\n    out = [[0] * 4 for _ in range(4)]\n    if g[1][1] == 2:\n"
        "        return out\n    out[0][0], out[0][3] = int(g[1][1]), int(g[1][2])\n"
        "    out[3][0], out[3][3] = int(g[2][1]), int(g[2][2])\n    return out",
    ),
}
WRONG = [
    "def transform(grid):\n    return grid",
    "import numpy as np\ndef transform(grid):\n    return np.rot90(grid)",
    "import numpy as np\ndef transform(grid):\n    return np.zeros((3, 3), dtype=int)",
    "def transform(grid):\n    return grid[::-1]",
    "def transform(grid):\n    while True:\n        pass",
    "import os\ndef transform(grid):\n    return grid",
]
GARBAGE = [
    "I think the output is a blue square.",
    "```python\ndef transform(grid) return grid\n```",
    "```python\nprint('hello')\n```",
]


def fenced(program: str) -> str:
    return f"Here is a solution.\n```python\n{program}\n```"


def scripted_policy(task_id: str, correct_weight: float) -> ScriptedPolicy:
    """Draws garbage (30%), wrong programs (40%), each decoy (10%) and the correct
    program (``correct_weight``, relative to those)."""
    correct, decoy1, decoy2 = SCRIPTS[task_id]
    pool = ([(g, 0.3 / len(GARBAGE)) for g in GARBAGE]
            + [(fenced(w), 0.4 / len(WRONG)) for w in WRONG]
            + [(fenced(decoy1), 0.1), (fenced(decoy2), 0.1), (fenced(correct), correct_weight)])
    pool = [(text, w) for text, w in pool if w > 0]
    texts, weights = zip(*pool)

    def draw(prompt: str, rng: random.Random) -> str:
        return rng.choices(texts, weights)[0]

    return ScriptedPolicy(fn=draw)


def run_one(task: ArcTask, policy: Any, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    sampling = SamplingConfig(temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    opt = create("optimizer", args.method, task, policy=policy, group_size=args.group_size,
                  sampling=sampling, seed=seed)
    members: dict[str, Any] = {"completions": 0, "no_program": 0, "examples": []}

    def count(o: Any, group: Any, records: Any) -> None:
        fresh = [m for m in group.members if not m.is_replay]
        members["completions"] += len(fresh)
        members["no_program"] += sum(not m.solutions for m in fresh)
        if len(members["examples"]) < 2:  # what the model wrote, for the record
            members["examples"] += [m.completion[:400] for m in fresh[:2]]

    start = time.perf_counter()
    result = migrate_opt.run(opt, iterations=args.iterations, callbacks=[count],
                             progress=False)
    wall = time.perf_counter() - start
    records = opt.database.records()
    prediction = predict(task, records)
    truths = [p.output for p in task.problem.test]
    right = [r for r in records if r.score is not None and
             [_grid(g) for g in r.info.get("test_outputs", [])] == truths]
    kinds: dict[str, int] = {}
    for r in records:
        for k in r.info.get("kinds", ["invalid"])[:1]:
            kinds[k] = kinds.get(k, 0) + 1
    best = opt.best(1)
    return {
        "task": task.problem.task_id, "seed": seed, "method": args.method,
        "iterations": result.iterations, "completions": members["completions"],
        "no_program": members["no_program"], "evaluations": len(records),
        "first_outcome_kinds": kinds, "best_score": best[0].score if best else None,
        "train_solved": prediction.candidates > 0, "candidates": prediction.candidates,
        "votes": [[n for _, n in t.votes] for t in prediction.tests],
        "pass1": prediction.pass1, "pass2": prediction.pass2, "oracle": prediction.oracle,
        "first_correct_iteration": min((r.iteration for r in right), default=None),
        "seconds": {k: round(v, 2) for k, v in result.seconds.items()}, "wall": round(wall, 1),
        "example_completions": members["examples"],
    }


def _grid(g: Any) -> Any:
    return tuple(tuple(r) for r in g) if g is not None else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("policy", choices=["scripted", "smollm2"])
    ap.add_argument("--tasks", default="00576224,3b4c2228,66e6c45b",
                    help="ARC-AGI-1 evaluation ids (ARC-small)")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    ap.add_argument("--iterations", type=int, default=4, help="groups per run (the budget)")
    ap.add_argument("--group-size", type=int, default=16)
    ap.add_argument("--method", default="migrate")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature "
                    "(the paper: 1.0)")
    ap.add_argument("--correct-weight", type=float, default=0.02,
                    help="scripted: chance weight of the correct program (garbage 0.3, "
                    "wrong 0.4, decoys 0.1 each); a control run with 0 follows each task")
    ap.add_argument("--out", default=None, help="file stem (default: results/arc_migrate_POLICY)")
    args = ap.parse_args()
    stem = args.out or os.path.join(RESULTS, f"arc_migrate_{args.policy}")

    rows = []
    start = time.perf_counter()
    model = None
    if args.policy == "smollm2":
        from migrate_opt import load_policy

        model = load_policy("smollm2-135m-instruct")
        initial = {k: v.clone() for k, v in model.state_dict().items()}
    runs = [(task_id, seed, weight) for task_id in args.tasks.split(",")
            for weight in ((None,) if model is not None else (args.correct_weight, 0.0))
            for seed in map(int, args.seeds.split(","))]
    for task_id, seed, weight in runs:
        task = ArcTask(task_id)
        if model is not None:
            model.load_state_dict(initial)  # every run starts from the base adapter
            policy = model
        else:
            policy = scripted_policy(task_id, weight)
        rows.append({**run_one(task, policy, args, seed), "correct_weight": weight})
        r = rows[-1]
        print(f"{task_id} seed {seed} weight {weight}: {r['evaluations']} programs, best "
              f"{r['best_score']}, candidates {r['candidates']}, pass@1 {r['pass1']:.2f},"
              f" pass@2 {r['pass2']:.2f}, oracle {r['oracle']:.2f}, {r['wall']:.0f} s",
              flush=True)
    summary = {
        "policy": args.policy, "method": args.method, "tasks": args.tasks.split(","),
        "seeds": args.seeds, "iterations": args.iterations, "group_size": args.group_size,
        "max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
        "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        "wall_seconds": round(time.perf_counter() - start, 1),
        "means": means(rows),
        "rows": rows,
    }
    for line in summary["means"]:
        print(line)
    print(f"wall time {summary['wall_seconds']:.0f} s")
    write(stem, summary)


def means(rows: list[dict[str, Any]]) -> list[str]:
    """Mean pass@1, pass@2 and oracle over the runs, per correct-program weight."""
    lines = []
    for weight in dict.fromkeys(r["correct_weight"] for r in rows):
        same = [r for r in rows if r["correct_weight"] == weight]
        rate = {k: sum(r[k] for r in same) / len(same) for k in ("pass1", "pass2", "oracle")}
        label = "" if weight is None else f" with correct-program weight {weight}"
        lines.append(f"mean over {len(same)} runs{label}: pass@1 {rate['pass1']:.2f}, "
                     f"pass@2 {rate['pass2']:.2f}, oracle {rate['oracle']:.2f}")
    return lines


def write(stem: str, summary: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    with open(stem + ".json", "w") as f:
        json.dump(summary, f, indent=2)
    columns = ["task", "seed", "correct_weight", "iterations", "completions", "no_program",
               "evaluations", "best_score", "candidates", "votes", "pass1", "pass2", "oracle",
               "first_correct_iteration", "wall"]
    with open(stem + ".csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows([[json.dumps(r[c]) if isinstance(r[c], list) else r[c] for c in columns]
                     for r in summary["rows"]])
    lines = [
        f"# MiGrATe on ARC, {summary['policy']} policy ({summary['machine']})", "",
        f"Method {summary['method']}, group size {summary['group_size']}, "
        f"{summary['iterations']} iterations per run, max {summary['max_new_tokens']} new "
        f"tokens, temperature {summary['temperature']}, seeds {summary['seeds']}; "
        f"wall time {summary['wall_seconds']:.0f} s.", "",
        *[f"- {line}" for line in summary["means"]], "",
        "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
    ]
    for r in summary["rows"]:
        cells = [f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
