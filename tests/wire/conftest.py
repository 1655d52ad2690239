import sys
from pathlib import Path

# lets the wire tests import their shared strategies module
sys.path.insert(0, str(Path(__file__).resolve().parent))
