"""Scenario schema: pydantic models only (no SimPy, no YAML, no pandas)."""

from sim.schema.actors import Cloud, InferenceDemand, Lab, RentalStream, Strategy, TrainingJob
from sim.schema.chips import ChipSpec, memory_bandwidth_gb_s, peak_flops, performance_density, tpp
from sim.schema.dist import Dist, Quantity, Series, Step
from sim.schema.network import Distributor, EdgeSpec, Foundry, Memory, NodeSpec, Packager, Vendor
from sim.schema.rules import RESTRICTIVENESS, Rule, Scope
from sim.schema.scenario import Problem, Scenario, cross_check

__all__ = [
    "RESTRICTIVENESS", "ChipSpec", "Cloud", "Dist", "Distributor", "EdgeSpec", "Foundry", "InferenceDemand",
    "Lab", "Memory", "NodeSpec", "Packager", "Problem", "Quantity", "RentalStream", "Rule", "Scenario",
    "Scope", "Series", "Step", "Strategy", "TrainingJob", "Vendor", "cross_check", "memory_bandwidth_gb_s",
    "peak_flops", "performance_density", "tpp",
]
