"""Entry point of ``migrate_opt_bench.learning`` (see its docstring)."""

import sys

from migrate_opt_bench.learning import main

if __name__ == "__main__":
    sys.exit(main())
