"""Dashboard tests run on the small tests/data/tiny.yaml (a run takes milliseconds)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `app` is not an installed package
    sys.path.insert(0, str(ROOT))
APP = str(ROOT / "app" / "streamlit_app.py")
TINY = str(ROOT / "tests" / "data" / "tiny.yaml")


@pytest.fixture
def tiny_app(monkeypatch):
    """Point the dashboard at tiny.yaml (the picker's first entry) and give a fresh AppTest."""
    from streamlit.testing.v1 import AppTest

    from app import services

    monkeypatch.setattr(services, "DEFAULT_SCENARIO", TINY)
    return AppTest.from_file(APP, default_timeout=60)
