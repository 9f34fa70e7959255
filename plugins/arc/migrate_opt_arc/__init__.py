"""ARC program synthesis for migrate-opt: the ``arc`` task, its sandbox and test-time
prediction (majority vote, pass@1, pass@2, oracle)."""

from .data import ArcProblem, Pair, arc_small_ids, load_problem
from .grids import grid_html, grid_text
from .predict import Prediction, TestPrediction, predict, prediction_metrics
from .sandbox import Outcome, Sandbox, SandboxConfig
from .task import ArcTask, problem_html

__all__ = ["ArcProblem", "ArcTask", "Outcome", "Pair", "Prediction", "Sandbox",
           "SandboxConfig", "TestPrediction", "arc_small_ids", "grid_html", "grid_text",
           "load_problem", "predict", "prediction_metrics", "problem_html"]
