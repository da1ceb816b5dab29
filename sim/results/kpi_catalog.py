"""What each KPI means: a plain label, its unit and a one-paragraph definition, for cards, tooltips and tables.

KPI names are ``base[key]`` (``job_cost_usd[bytedance/llm]``); the catalogue is keyed on the base.  The
definitions say what the engine counts (:mod:`sim.results.kpis` computes them; :mod:`sim.results.metrics` is the
reference over the tidy tables), so a dashboard card or a table header can show its unit and basis without a
second reading of the code.  A KPI missing here still has a name: :func:`label` falls back to it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KpiDef:
    """One KPI's label, unit (as printed after the number) and definition."""

    base: str
    label: str
    unit: str
    definition: str


_FULL_COST = ("full cost: chips the lab owns count their capex over the chip's service life plus networking "
              "capex, financing and power (PUE x electricity) for the hours the job holds them; rented GPUs "
              "count the rental price paid")

CATALOG: dict[str, KpiDef] = {d.base: d for d in (
    KpiDef("job_finish_day", "finishes", "date",
           "Date the training job has done its target compute (the KPI is in days from the scenario's start; "
           "shown as a date). Not finished by the horizon: no value."),
    KpiDef("job_finish_or_horizon_day", "finishes (horizon if not)", "date",
           "Finish date of the job, or the horizon when it does not finish (a censored value)."),
    KpiDef("job_start_day", "starts", "date", "Date the job first starts training on a cluster."),
    KpiDef("job_delay_vs_deadline_days", "delay vs deadline", "days",
           "Finish date minus the job's deadline, in days (negative: early)."),
    KpiDef("job_cost_usd", "job cost", "$", "What the training job costs, on one basis, " + _FULL_COST + "."),
    KpiDef("job_cost_per_pflop_usd", "cost per PFLOP", "$ per PFLOP",
           "Job cost (" + _FULL_COST + ") divided by the training compute done, in PFLOP (10^15 floating-point "
           "operations, not PFLOP/s); $0.001 per PFLOP is $1M per 10^24 FLOP."),
    KpiDef("job_rented_share", "rented share", "share",
           "Share of the job's largest cluster made of rented GPUs (0: all owned, 1: all rented)."),
    KpiDef("job_domestic_share", "on domestic chips", "share",
           "1 when the job runs on chips made in its lab's home country and rents nothing, else 0."),
    KpiDef("job_grey_share", "grey-channel share", "share", "Share of the job's owned chips that came by the grey "
                                                             "channel (smuggled)."),
    KpiDef("job_failures", "failures", "count", "Hardware failures that interrupted the job (each costs the work "
                                                  "since the last checkpoint and a restart)."),
    KpiDef("job_effective_pflops", "effective compute", "PFLOP/s",
           "The job's compute rate as run: its cluster's peak compute times the MFU achieved."),
    KpiDef("job_finished", "finished", "yes/no", "1 when the job finished by the horizon."),
    KpiDef("domestic_share", "domestic share", "share",
           "Share of the lab's installed peak compute on the last day made in its home country."),
    KpiDef("compute_eflops_end", "compute at the end", "EFLOP/s",
           "The lab's installed peak compute (dense BF16) on the last day, all chip origins."),
    KpiDef("fleet_units_end", "fleet at the end", "chips", "Chips the lab has installed on the last day."),
    KpiDef("delivered_units", "delivered", "chips", "Chips delivered to the buyer, by chip origin (sold, "
                                                     "re-exported or smuggled and not seized)."),
    KpiDef("blocked_units", "units blocked", "chips",
           "Chips ordered and stopped by a rule: denied outright (a rule without a licence path) plus refused "
           "(a licence applied for and not granted). Futile demand (never ordered because no licence would be "
           "granted) and seized grey lots are counted apart."),
    KpiDef("denied_units", "denied", "chips", "Chips ordered and denied by this rule (no licence path)."),
    KpiDef("refused_units", "refused", "chips", "Chips whose licence under this rule was applied for and refused "
                                                "(each re-application of the same demand counts again)."),
    KpiDef("refused_demand_units", "refused demand", "chips",
           "Distinct demand refused under this rule (a re-application of the same demand counted once)."),
    KpiDef("futile_units", "futile demand", "chips",
           "Demand never ordered because the rule's licence is never granted (approval probability 0)."),
    KpiDef("capped_units", "capped demand", "chips",
           "Demand never ordered because the rule's volume cap had no room left in its period (counted once "
           "while it stays open; the buyer orders again when a new period opens room)."),
    KpiDef("grey_units", "via grey channel", "chips", "Chips delivered by smuggling (the grey channel), not "
                                                      "seized."),
    KpiDef("seized_units", "seized", "chips", "Grey-channel chips seized by enforcement (paid for and lost)."),
    KpiDef("stockpiled_units", "stockpiled", "chips", "Chips bought ahead of a rule that was announced but not "
                                                      "yet in force."),
    KpiDef("produced_units", "produced", "chips", "Working chips made over the run, by product."),
    KpiDef("sold_elsewhere_units", "sold elsewhere", "chips",
           "Chips of a world-market part that the modelled buyers left in the vendor's stock for a full check "
           "period, sold outside the modelled market (``unsold_leaves_after_days``), by product."),
    KpiDef("vendor_revenue_lost_usd", "vendor revenue lost", "$",
           "Revenue vendors lose at list price: demand denied, refused (once), futile and capped."),
    KpiDef("inference_unmet_share", "inference unmet", "share", "Share of the lab's serving demand its fleet "
                                                                "cannot serve."),
    KpiDef("workload_unmet_share", "workloads unmet", "share", "Share of the lab's other workloads' compute "
                                                               "demand its fleet cannot serve."),
)}


def base_of(kpi: str) -> str:
    """``job_cost_usd[bytedance/llm]`` -> ``job_cost_usd``."""
    return kpi.split("[", 1)[0]


def lookup(kpi: str) -> KpiDef | None:
    """The definition of *kpi* (by its base name), or None."""
    return CATALOG.get(base_of(kpi))


def unit(kpi: str) -> str:
    """The unit of *kpi* ("" when not catalogued)."""
    d = lookup(kpi)
    return d.unit if d is not None else ""


def label(kpi: str) -> str:
    """A plain label: ``job cost (bytedance/llm)``; the name itself when not catalogued."""
    d = lookup(kpi)
    if d is None:
        return kpi
    key = kpi.split("[", 1)[1].rstrip("]") if "[" in kpi else ""
    return f"{d.label} ({key})" if key else d.label


def help_text(kpi: str) -> str:
    """``Unit: ... — definition`` for a tooltip ("" when not catalogued)."""
    d = lookup(kpi)
    return "" if d is None else f"Unit: {d.unit}. {d.definition}"


def frame_rows() -> list[dict]:
    """The catalogue as rows (KPI, label, unit, definition) for a definitions table."""
    return [{"KPI": d.base, "label": d.label, "unit": d.unit, "definition": d.definition} for d in CATALOG.values()]


__all__ = ["CATALOG", "KpiDef", "base_of", "frame_rows", "help_text", "label", "lookup", "unit"]
