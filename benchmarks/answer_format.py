"""Entry point of ``migrate_opt_bench.answer_format`` (see its docstring)."""

import sys

from migrate_opt_bench.answer_format import main

if __name__ == "__main__":
    sys.exit(main())
