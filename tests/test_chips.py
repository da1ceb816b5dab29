"""TPP and performance density (the figures export rules are written in), on hand-built chips and on the
real catalogue, plus ``exportsim chips``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from sim.cli import app
from sim.scenario.catalog import chip_table, read_chips
from sim.scenario.loader import ScenarioError, load_raw
from sim.schema import ChipSpec, memory_bandwidth_gb_s, peak_flops, performance_density, tpp

CATALOG = Path(__file__).resolve().parent.parent / "scenarios" / "_catalog" / "chips.yaml"


def chip(die_area_mm2: float, **dense_tflops: float) -> ChipSpec:
    return ChipSpec(
        name="test", vendor="v", designer_country="US", release=dt.date(2023, 1, 1),
        die_area_mm2=die_area_mm2, dense_tflops=dense_tflops, price_usd=1,
    )


# id, hand-built spec (public dense figures), expected TPP, expected PD (None = not checked)
HAND_BUILT = [
    ("a100", chip(826, bf16=312, int8=624), 4992, 6.04),
    ("h100", chip(814, bf16=989, int8=1979), 15832, 19.45),
    ("h800", chip(814, bf16=989, int8=1979), 15832, 19.45),
    ("h20", chip(814, bf16=148, int8=296), 2368, 2.91),
    ("rtx4090", chip(608.5, fp16=165.2, fp8=660.6), 5284.8, 8.685),
    ("ascend910b", chip(665.6, bf16=320, int8=640), 5120, 7.69),
    ("fp32-only", chip(100, fp32=10), 320, 3.2),
    ("fp4", chip(1000, fp4=1000, bf16=200), 4000, 4.0),
]


@pytest.mark.parametrize(("cid", "spec", "want_tpp", "want_pd"), HAND_BUILT, ids=[r[0] for r in HAND_BUILT])
def test_tpp_and_pd_hand_built(cid, spec, want_tpp, want_pd):
    assert tpp(spec) == pytest.approx(want_tpp)
    assert performance_density(spec) == pytest.approx(want_pd, abs=0.01)


def test_tpp_is_max_over_precisions():
    """TPP = max over precisions of TOPS x bit length (not the sum, not the widest)."""
    assert tpp(chip(100, fp8=100, bf16=60)) == 960  # fp16-class: 60*16 = 960 > 100*8 = 800
    assert tpp(chip(100, fp8=130, bf16=60)) == 1040


def test_peak_flops_falls_back_to_wider_precision():
    c = chip(100, fp16=100, fp32=25)
    assert peak_flops(c, "fp16") == 100e12
    assert peak_flops(c, "bf16") == 100e12  # not listed: the first listed precision at least as wide (fp16)
    assert peak_flops(c, "fp8") == 100e12
    assert peak_flops(chip(100, int8=50), "bf16") == 50e12  # nothing as wide: the largest figure


def test_memory_bandwidth_in_gb_s():
    c = chip(814, bf16=989).model_copy(update={"hbm_tb_s": 3.35})
    assert memory_bandwidth_gb_s(c) == pytest.approx(3350)


# -------------------------------------------------------------------------------------- real catalogue

# id, expected TPP (None = skip), TPP tolerance (relative), expected PD (None = skip), extra check
CATALOGUE_EXPECTED = [
    ("a100", 4992, 0, 6.04, None),
    ("h100", 15832, 0, None, None),
    ("h800", 15832, 0, None, None),
    ("h20", 2368, 0, None, None),
    ("rtx4090", 5286, 0.01, None, None),
    ("rtx4090d", None, 0, None, lambda t: t < 4800),
]


def _catalogue_params():
    mark = pytest.mark.skipif(not CATALOG.exists(), reason=f"{CATALOG} not written yet")
    return [pytest.param(*row, id=row[0], marks=mark) for row in CATALOGUE_EXPECTED]


@pytest.fixture(scope="module")
def catalogue() -> dict[str, ChipSpec]:
    if not CATALOG.exists():
        pytest.skip(f"{CATALOG} not written yet")
    return read_chips(CATALOG, load_raw)


@pytest.mark.parametrize(("cid", "want_tpp", "rel", "want_pd", "check"), _catalogue_params())
def test_catalogue_tpp_pd(catalogue, cid, want_tpp, rel, want_pd, check):
    assert cid in catalogue, sorted(catalogue)
    t = tpp(catalogue[cid])
    if want_tpp is not None:
        assert t == pytest.approx(want_tpp, rel=rel) if rel else t == want_tpp
    if want_pd is not None:
        assert performance_density(catalogue[cid]) == pytest.approx(want_pd, abs=0.01)
    if check is not None:
        assert check(t), t


def test_read_chips_rejects_a_file_without_chips(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("name: nothing\n")
    with pytest.raises(ScenarioError, match="no chips section"):
        read_chips(f, load_raw)


def test_read_chips_reports_chip_and_field(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("chips:\n  good:\n    name: g\n    vendor: v\n    designer_country: US\n    release: 2024-01-01\n"
                 "    die_area_mm2: 1\n    dense_tflops: {bf16: 1}\n    price_usd: 1\n"
                 "  bad:\n    name: b\n")
    with pytest.raises(ScenarioError) as info:
        read_chips(f, load_raw)
    paths = {p.path for p in info.value.problems}
    assert "chips.bad.designer_country" in paths
    assert not any(p.startswith("chips.good") for p in paths)
    assert {p.line for p in info.value.problems} == {10}


# ------------------------------------------------------------------------------------------------- CLI

def test_chips_json_on_tiny(runner, tiny_path):
    result = runner.invoke(app, ["chips", str(tiny_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["h100", "ascend910b"]  # by release date
    by_id = {r["id"]: r for r in rows}
    assert by_id["h100"]["tpp"] == 15832
    assert by_id["h100"]["bf16_tflops"] == 989
    assert by_id["ascend910b"]["pd"] == pytest.approx(5120 / 665.6)
    assert by_id["ascend910b"]["price_usd"] == 28000


def test_chips_table_on_tiny(runner, tiny_path):
    result = runner.invoke(app, ["chips", str(tiny_path)])
    assert result.exit_code == 0, result.output
    assert "ascend910b" in result.stdout
    assert "15,832" in result.stdout


@pytest.mark.skipif(not CATALOG.exists(), reason="catalogue not written yet")
def test_chips_json_on_catalogue(runner):
    result = runner.invoke(app, ["chips", str(CATALOG), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"a100", "h100", "h20"} <= {r["id"] for r in rows}
    assert [r["release"] for r in rows] == sorted(r["release"] for r in rows)
    assert all(r["tpp"] > 0 and r["pd"] > 0 for r in rows)


def test_chips_missing_file(runner, tmp_path):
    result = runner.invoke(app, ["chips", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert "file not found" in result.stderr


def test_chip_table_rows():
    rows = chip_table({"x": chip(100, bf16=10)})
    assert rows[0]["tpp"] == 160
    assert rows[0]["pd"] == 1.6
    assert rows[0]["price_usd"] == 1
