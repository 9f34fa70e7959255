"""``python -m migrate_opt.cli``."""

import sys

from .commands import main

sys.exit(main())
