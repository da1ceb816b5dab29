"""``python -m sim.cli``: the console script's entry point (see :func:`sim.cli.main`)."""

from sim.cli import main

main()
