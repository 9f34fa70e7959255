import sys
from pathlib import Path

# The harness is a folder of scripts, not an installed package: make `import harness` work.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
