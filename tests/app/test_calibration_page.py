"""The Calibration page and the "calibrated" switch on Run and Compare, on a tiny calibration store."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app.conftest import ROOT

SPEC = ROOT / "tests" / "data" / "calibration" / "tiny.yaml"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from sim.experiments.calibrate import load_calibration, run_calibration

    root = tmp_path_factory.mktemp("calibrations") / "tiny"
    np.random.seed(4)
    run_calibration(load_calibration(SPEC), root, executor="serial", generations=1)
    return root


@pytest.fixture
def cal_app(tiny_app, store, monkeypatch):
    from app import services

    monkeypatch.setattr(services, "CALIBRATION_DIRS", [store.parent])
    return tiny_app


def test_calibration_page_shows_the_report(cal_app):
    at = cal_app.run()
    at.switch_page("app_pages/calibration.py").run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "Held-out coverage (80 %)" in labels and "Particles / ESS" in labels
    assert any("Pinned by the data" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 5


def test_calibration_page_without_stores_says_how_to_make_one(tiny_app, tmp_path, monkeypatch):
    from app import services

    monkeypatch.setattr(services, "CALIBRATION_DIRS", [tmp_path])
    at = tiny_app.run()
    at.switch_page("app_pages/calibration.py").run()
    assert not at.exception and "exportsim calibrate" in at.info[0].value


def test_run_and_compare_switch_to_the_posterior(cal_app):
    at = cal_app.run()
    at.switch_page("app_pages/run.py").run()
    at.toggle(key="run_calibrated").set_value(True).run()
    assert not at.exception
    assert any("Inputs from the posterior of calibration 'tiny'" in i.value for i in at.info)
    at.switch_page("app_pages/compare.py").run()
    at.toggle(key="cmp_calibrated").set_value(True).run()
    at.button(key="cmp_run").click().run()
    assert not at.exception
    assert any("(calibrated)" in h.value for h in at.subheader)


def test_calibration_page_tells_edited_source_from_another_model_version(cal_app, store, monkeypatch):
    import json

    from sim.engine import version

    fitted = json.loads((store / "calibration.json").read_text())["model_fingerprint"].split("-", 1)[0]
    monkeypatch.setattr(version, "model_fingerprint", lambda: f"{fitted}-ffffffffffff")
    at = cal_app.run()
    at.switch_page("app_pages/calibration.py").run()
    assert not at.exception and not at.warning
    assert any("expected to hold" in i.value for i in at.info)
    monkeypatch.setattr(version, "model_fingerprint", lambda: f"{int(fitted) + 1}-ffffffffffff")
    at.switch_page("app_pages/calibration.py").run()
    assert any("Recalibrate before relying on it" in w.value for w in at.warning)
