"""Settings for every test suite in the repository (core, plugins, benchmarks)."""

import os

# One torch thread by default: with two busy cores, two threads ran 5-30x slower here.
os.environ.setdefault("MIGRATE_OPT_THREADS", "1")
try:
    import torch

    torch.set_num_threads(int(os.environ["MIGRATE_OPT_THREADS"]))
except ImportError:
    pass
