"""Run a benchmark grid: ``python benchmarks/run.py benchmarks/configs/toy.toml``.
See benchmarks/README.md."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
