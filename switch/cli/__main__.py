"""`python -m switch.cli` runs the `ppob-switch` command."""
import sys

from .main import main

sys.exit(main())
