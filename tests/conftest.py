"""Shared fixtures: the tiny scenario (file, raw mapping, validated model) and a Typer CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.scenario.loader import load_raw, load_scenario
from sim.schema import Scenario

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
MALFORMED = TESTS / "malformed"
REPO = TESTS.parent
TINY = DATA / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    """tests/data/tiny.yaml: 2 chips, 5 supply nodes, 1 lab, 1 rule, 6 edges."""
    return TINY


@pytest.fixture(scope="session")
def tiny_scenario() -> Scenario:
    """The validated tiny scenario (frozen, so one copy serves every test)."""
    return load_scenario(TINY)


@pytest.fixture
def tiny_raw() -> tuple[dict, dict]:
    """(merged mapping, line map) of tiny.yaml; a fresh copy each time, so tests may edit it."""
    return load_raw(TINY)


@pytest.fixture
def runner() -> CliRunner:
    """A Typer CLI runner."""
    return CliRunner()


# --- hypothesis profiles: "ci" by default (fast), "long" for `make fuzz`
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
