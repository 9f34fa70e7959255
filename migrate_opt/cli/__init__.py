"""The ``migrate-opt`` command: the parser (``parser``), what flags and ``--config`` files
become (``settings``) and the commands themselves (``commands``)."""

from .commands import main, parse_task_options, run_config
from .parser import build_parser
from .settings import read_config_file, run_spec

__all__ = ["build_parser", "main", "parse_task_options", "read_config_file", "run_config",
           "run_spec"]
