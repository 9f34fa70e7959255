"""``migrate-opt show``, ``report`` and ``compare``: reading stored studies, never writing
them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..configs import printable
from .tables import print_best, print_table


def cmd_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..factory import open_database, pick_study, study_record
    from ..grpo.monitor import learning_curve
    from ..usage import study_usage
    from ..values import with_direction

    study = pick_study(args.storage, args.study)
    db = open_database(args.storage, study, readonly=True)
    stored = db.settings()
    record = study_record(stored, study)
    settings = record if record is not None else {k: v for k, v in stored.items()
                                                  if k != "cli"}
    best = with_direction(db.top(args.top), str(settings.get("direction", "maximize")))
    curve = learning_curve(db)
    usage = study_usage(db.groups())
    if args.json:
        print(json.dumps({"study": study, "settings": settings, "evaluations": len(db),
                          "learning": asdict(curve), "usage": usage.as_dict(),
                          "best": [_record_json(r) for r in best]}, indent=2, default=str))
        return 0
    print(f"study {study!r} in {args.storage}: {len(db)} evaluations, "
          f"{db.last_iteration() + 1} iterations")
    if usage.tokens:
        print(f"  usage: {usage.line()}")
    for k, v in settings.items():
        print(f"  {printable(str(k))}: {json.dumps(v, default=str)}")  # no terminal escapes
    _print_learning(curve)
    print_best(best)
    return 0


def _print_learning(curve: Any) -> None:
    """The last iterations' on-policy mean reward and KL to base: is the model learning?"""
    if not curve.iterations:
        return
    rows = [(it, "-" if r is None else f"{r:.4f}", "-" if k is None else f"{k:.4f}", str(n))
            for it, r, k, n in list(zip(curve.iterations, curve.on_policy_reward, curve.kl,
                                        curve.new_solutions))[-8:]]
    print("learning (last iterations):")
    print_table(["iteration", "on-policy reward", "KL to base", "new solutions"], rows)
    if curve.kl_exceeded:
        print(f"warning: {curve.kl_exceeded} GRPO step(s) had a KL to base past max_kl: the "
              "policy drifted far from the base model (lower the learning rate)")


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    print(write_report(args.storage, args.study, args.output, force=args.force))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..report.compare import HEADER, write_compare

    path, rows = write_compare(args.studies, args.output)
    print_table(HEADER, [r.cells() for r in rows])
    if any(r.short for r in rows):
        print("flag: stopped short of the budget without solving; its rank is not that of "
              "a run that spent the same")
    print(path)
    return 0


def _record_json(r: Any) -> dict[str, Any]:
    return {"solution": r.solution, "score": r.objective, "solved": r.solved, "source": r.source,
            "iteration": r.iteration, "evaluation": r.seq}
