"""Run a benchmark grid: ``python benchmarks/run.py benchmarks/configs/toy.toml`` (the same
as the ``migrate-opt-bench`` command of ``pip install -e benchmarks``). See
benchmarks/README.md."""

import sys

from migrate_opt_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
