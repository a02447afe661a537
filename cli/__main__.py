"""`python -m cramnet.cli`: the command line (torchrun starts training processes this way)."""

import sys

from . import app

sys.exit(app())
