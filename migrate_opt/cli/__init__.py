"""The ``migrate-opt`` command: the parser (``parser``), what flags and ``--config`` files
become (``settings``), the entry point (``entry``) and the commands themselves (``run`` and
``resume`` in ``run``, building and running a study in ``execute``, ``show``, ``report`` and
``compare`` in ``view``, ``plugins`` and ``methods`` in ``listing``)."""

from .entry import main
from .parser import build_parser
from .run import parse_task_options, run_config
from .settings import read_config_file, run_spec

__all__ = ["build_parser", "main", "parse_task_options", "read_config_file", "run_config",
           "run_spec"]
