"""Small hand-built worlds for engine tests: exact event days and analytic results."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from sim import scenario_from_dict

PEAK_BF16_TFLOPS = 1000.0  # the test chip's dense BF16 peak
MFU = 0.5


def micro_world(**changes) -> dict:
    """One vendor with stock, one lab, one job; everything constant; no failures."""
    d = {
        "name": "micro",
        "question": "When does the job finish?",
        "start": dt.date(2024, 1, 1),
        "end": dt.date(2025, 12, 31),
        "seed": 1,
        "chips": {
            "gpu": {
                "name": "Test GPU", "vendor": "v", "designer_country": "US", "release": dt.date(2023, 1, 1),
                "die_area_mm2": 800, "dense_tflops": {"bf16": PEAK_BF16_TFLOPS}, "price_usd": 10_000,
                "annual_failure_rate": 0.0, "interconnect_gb_s": 900,
            },
        },
        "nodes": {"v": {"kind": "vendor", "country": "US", "initial_inventory": {"gpu": 1000}}},
        "edges": {"v-lab": {"from": "v", "to": "lab", "flow": "chips", "lead_time_days": 30}},
        "labs": {
            "lab": {
                "country": "CN", "budget_usd_per_year": 1e12, "install_delay_days": 0,
                "strategy": {"review_interval_days": 1000},
                "jobs": {
                    "j": {
                        "flop": job_flop(100, 10.0), "chips": ["gpu"], "cluster_size": {"min": 100, "max": 100},
                        "earliest_start": dt.date(2024, 1, 1), "mfu": {"gpu": MFU}, "sourcing": "own",
                    }
                },
            }
        },
    }
    for path, value in changes.items():
        set_path(d, path, value)
    return d


def job_flop(chips: int, days: float) -> float:
    """FLOP that *chips* test GPUs finish in exactly *days* at the test MFU."""
    return chips * PEAK_BF16_TFLOPS * 1e12 * MFU * 86_400 * days


def set_path(d: dict, dotted: str, value) -> None:
    """Set d[a][b][c] = value for 'a__b__c' (double underscores separate keys)."""
    keys = dotted.split("__")
    cur = d
    for k in keys[:-1]:
        cur = cur.setdefault(k, {})
    if value is None:
        cur.pop(keys[-1], None)
    else:
        cur[keys[-1]] = value


def build(d: dict):
    """Validate a world dict into a Scenario."""
    return scenario_from_dict(copy.deepcopy(d))


@pytest.fixture
def micro():
    return micro_world()
