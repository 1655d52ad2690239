"""python -m terminal_sim ... == ppob-terminal ..."""
import sys

from .cli import main

sys.exit(main())
