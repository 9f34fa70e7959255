"""``python -m migrate_opt.cli``."""

import sys

from .entry import main

sys.exit(main())
