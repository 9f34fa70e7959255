"""Entry point of ``migrate_opt_bench.answer_grammar`` (see its docstring)."""

import sys

from migrate_opt_bench.answer_grammar import main

if __name__ == "__main__":
    sys.exit(main())
