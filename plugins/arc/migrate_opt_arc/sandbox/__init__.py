"""A sandbox for model-written ``transform(grid)`` programs (see ``_worker.py`` for the
layers inside a worker and ``isolation.py`` for the OS layer)."""

from .config import DEFAULT_ALLOWED_IMPORTS, SandboxConfig
from .isolation import layers, works
from .runner import Grid, Outcome, Sandbox, as_grid

__all__ = ["DEFAULT_ALLOWED_IMPORTS", "Grid", "Outcome", "Sandbox", "SandboxConfig", "as_grid",
           "layers", "works"]
