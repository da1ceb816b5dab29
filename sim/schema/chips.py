"""Chip catalogue entries, and the derived figures export rules are written in (TPP, PD)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from sim.schema._base import Sourced
from sim.schema.dist import NonNegQuantity, PositiveUnitQuantity

#: Operand bit length of each precision, used for TPP (ECCN 3A090: TPP = TOPS x bit length).
BITS_PER_PRECISION: dict[str, int] = {"fp4": 4, "fp8": 8, "int8": 8, "fp16": 16, "bf16": 16, "tf32": 32, "fp32": 32}

#: Dense TFLOPS above this are not a chip (1e9 TFLOPS is a zettaFLOP/s).
MAX_TFLOPS = 1e9

Precision = Literal["fp4", "fp8", "int8", "fp16", "bf16", "tf32", "fp32"]


class ChipSpec(Sourced):
    """One accelerator product as sold (a package, possibly of several dies)."""

    name: str = Field(description="Display name, e.g. 'H100 SXM'.")
    vendor: str = Field(description="Id of the vendor node that sells it.")
    designer_country: str = Field(description="ISO country of the designer (origin test of US rules).")
    foundry: str | None = Field(default=None, description="Id of the foundry node that makes its dies.")
    process_node: str = Field(default="", description="e.g. 'TSMC 4N', 'SMIC N+2'.")
    made_with_us_tools: bool = Field(
        default=True, description="Whether its dies are a direct product of US tools (foreign-direct-product scope)."
    )
    release: dt.date
    die_area_mm2: float = Field(
        ge=1, le=100_000,
        description="Total logic die area in the package, 1 to 100,000 mm^2 (a 300 mm wafer is 70,686 mm^2; "
                    "below 1 mm^2 the dies per wafer overflow any count).")
    dies_per_package: int = Field(default=1, ge=1, le=1000)
    dense_tflops: dict[Precision, float] = Field(
        description="Dense (no sparsity) tera-ops per second by precision (TFLOPS or TOPS); each above 0 and "
                    "at most 1e9 (a chip that computes nothing would hold a training cluster forever)."
    )
    hbm_gb: float = Field(default=0, ge=0)
    hbm_tb_s: float = Field(default=0, ge=0, description="Memory bandwidth, TB/s.")
    hbm_stacks: int = Field(default=0, ge=0, description="HBM stacks per package (0 for GDDR parts).")
    interconnect_gb_s: float = Field(default=0, ge=0, description="Aggregate chip-to-chip bandwidth, GB/s.")
    tdp_w: float = Field(default=0, ge=0)
    price_usd: NonNegQuantity = Field(description="Unit price to a direct buyer.")
    service_life_years: float = Field(default=5.0, ge=0.1, le=100, description="0.1 to 100 years.")
    annual_failure_rate: float = Field(default=0.04, ge=0, le=1, description="Permanent failures per chip-year.")
    datacenter: bool = Field(default=True, description="False for gaming parts (rules treat them differently).")
    training_mfu: PositiveUnitQuantity | None = Field(
        default=None, description="Typical model FLOP utilisation of LLM training on this chip (a job may override); "
                                  "above 0 and at most 1."
    )
    max_cluster_chips: int | None = Field(
        default=None, ge=1, le=100_000_000,
        description="Largest training cluster of this chip known to work (interconnect limits)."
    )

    @model_validator(mode="after")
    def _has_compute(self) -> ChipSpec:
        if not self.dense_tflops:
            raise ValueError("dense_tflops needs at least one precision")
        bad = {p: v for p, v in self.dense_tflops.items() if not 0 < v <= MAX_TFLOPS}
        if bad:
            p, v = next(iter(bad.items()))
            raise ValueError(f"dense_tflops.{p} must be above 0 and at most {MAX_TFLOPS:g}, got {v:g}")
        return self


def tpp(chip: ChipSpec) -> float:
    """Total processing performance: dense TOPS x operand bit length, the largest over precisions."""
    return max(tops * BITS_PER_PRECISION[p] for p, tops in chip.dense_tflops.items())


def performance_density(chip: ChipSpec) -> float:
    """TPP per mm^2 of die area."""
    return tpp(chip) / chip.die_area_mm2


def peak_flops(chip: ChipSpec, precision: str = "bf16") -> float:
    """Dense peak FLOP/s at *precision*; falls back to the nearest wider precision the chip lists."""
    order = ["fp4", "fp8", "int8", "fp16", "bf16", "tf32", "fp32"]
    if precision in chip.dense_tflops:
        return chip.dense_tflops[precision] * 1e12  # type: ignore[index]
    bits = BITS_PER_PRECISION[precision]
    for p in order:
        if BITS_PER_PRECISION[p] >= bits and p in chip.dense_tflops:
            return chip.dense_tflops[p] * 1e12  # type: ignore[index]
    return max(chip.dense_tflops.values()) * 1e12


def memory_bandwidth_gb_s(chip: ChipSpec) -> float:
    """DRAM bandwidth in GB/s (rules quote GB/s; the catalogue stores TB/s)."""
    return chip.hbm_tb_s * 1000.0
