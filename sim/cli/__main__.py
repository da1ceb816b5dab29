"""``python -m sim.cli``."""

from sim.cli import _serve, _start

_start()  # before anything heavy loads: the collector off, OpenBLAS's spin short (see sim.cli._start)

from sim.cli.main import main  # noqa: E402

_serve(main)
