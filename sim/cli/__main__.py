"""``python -m sim.cli``."""

import gc

gc.disable()  # start-up makes long-lived objects only (see sim.cli._serve)

from sim.cli import _serve  # noqa: E402
from sim.cli.main import main  # noqa: E402

_serve(main)
