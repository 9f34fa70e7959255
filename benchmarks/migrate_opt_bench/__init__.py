"""The comparison harness: a TOML config names tasks, methods (LLM presets through
``Migrate`` or registered optimizers such as the baselines), seeds and a budget of
evaluations; ``migrate-opt-bench CONFIG`` (or ``python benchmarks/run.py CONFIG``) runs the
grid in parallel (or on Ray),
resumes what is done, and writes per-run metrics (CSV, JSON), a Markdown table of mean
and spread per method and task, and best-so-far plots."""

from .config import BenchmarkConfig, Cell, MethodSpec, TaskSpec
from .config_file import load_config
from .metrics import RunMetrics, top_k_auc
from .runner import run_cell, run_grid

__all__ = [
    "BenchmarkConfig", "Cell", "MethodSpec", "RunMetrics", "TaskSpec", "load_config",
    "run_cell", "run_grid", "top_k_auc",
]
