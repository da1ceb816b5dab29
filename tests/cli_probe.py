"""Which modules an ``exportsim`` command line imports: the command runs in a fresh interpreter, which reports
``sys.modules`` on its last stderr line when the command exits (start-up tests read it).

A helper, not a test module: ``tests/test_cli_startup.py`` and ``tests/test_lazy_imports.py`` import it and make
the assertions; pytest does not collect it (its name does not start with ``test_``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
sys.argv = ["exportsim", *sys.argv[1:]]
from sim.cli import main
try:
    main()
except SystemExit:
    pass
sys.__stderr__.write(json.dumps(sorted(sys.modules)) + "\\n")
"""


def cli_modules(args: list[str]) -> tuple[set[str], subprocess.CompletedProcess]:
    """(modules imported by ``exportsim *args``, the finished process)."""
    p = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return set(json.loads(p.stderr.strip().splitlines()[-1])), p
