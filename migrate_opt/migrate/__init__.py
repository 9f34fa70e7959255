"""MiGrATe, the paper's method: its config (``config``), the presets (``presets``), the
factory behind every preset (``factory``), the optimizer (``optimizer``) and its adapter
state (``state``: checkpoints and restore; ``transfer``: another study's adapter)."""

from .config import DEFAULT_MODEL, MigrateConfig, SamplerSpec
from .optimizer import Migrate, parse_completion

__all__ = ["DEFAULT_MODEL", "Migrate", "MigrateConfig", "SamplerSpec", "parse_completion"]
