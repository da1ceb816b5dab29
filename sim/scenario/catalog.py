"""Read a chip catalogue (from a scenario or a ``chips:`` fragment) and tabulate derived figures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from sim.schema import ChipSpec, peak_flops, performance_density, tpp
from sim.schema.dist import Constant, support


def read_chips(path: Path, load_raw: Callable) -> dict[str, ChipSpec]:
    """Validate just the ``chips`` section of *path* (so a catalogue fragment works as well as a scenario)."""
    from sim.scenario.loader import LoadProblem, ScenarioError, _problems_from

    data, lines = load_raw(path)
    raw = data.get("chips")
    if not isinstance(raw, dict) or not raw:
        raise ScenarioError([LoadProblem(str(path), 1, "chips", "no chips section (a mapping of chip ids)")])
    out: dict[str, ChipSpec] = {}
    problems = []
    for cid, spec in raw.items():
        try:
            out[cid] = ChipSpec.model_validate(spec)
        except ValidationError as e:
            for p in _problems_from(e, spec if isinstance(spec, dict) else {}, {}, str(path)):
                where = lines.get(("chips", cid), (str(path), 1))
                problems.append(LoadProblem(where[0], where[1], f"chips.{cid}.{p.path}".rstrip("."), p.message))
    if problems:
        raise ScenarioError(problems)
    return out


def _central(q) -> float:
    if isinstance(q, Constant):
        return q.value
    lo, hi = support(q)
    return (lo + hi) / 2


def chip_table(chips: dict[str, ChipSpec]) -> list[dict]:
    """One row per chip with TPP and performance density, sorted by release date."""
    rows = []
    for cid, c in chips.items():
        rows.append({
            "id": cid, "name": c.name, "vendor": c.vendor, "release": c.release,
            "bf16_tflops": peak_flops(c, "bf16") / 1e12, "tpp": tpp(c), "pd": performance_density(c),
            "hbm_tb_s": c.hbm_tb_s, "interconnect_gb_s": c.interconnect_gb_s, "die_area_mm2": c.die_area_mm2,
            "price_usd": _central(c.price_usd), "source": c.source,
        })
    return sorted(rows, key=lambda r: (r["release"], r["id"]))
