"""The run budget: how many events a scenario's run will process, estimated before it runs, and a cap.

Every process of the model is periodic or driven by a periodic one, so the event count is a sum of
(horizon / period) x (events each period causes).  The estimate below follows the processes of
``sim.engine.mechanisms`` (monthly supply, fleet, inference and cloud purchases; a procurement review
per lab every ``review_interval_days``; a pro-rata allocation round per vendor every
``allocation_interval_days``; a rental-stream arrival and departure per tenant; training failures at
n / MTBF per hour (worked out in the job's own loop, not as events, but counted as if they were); rental
renewals every ``rental_days_block``; capped excess re-offered every ``period_days``), with generous
per-period fan-outs, so it is an upper estimate: the library's scenarios process 5-25 % of what it
predicts.  A scenario whose estimate is over :data:`MAX_EVENTS` (about four minutes of engine time at
~10 us per event) is refused at load, with one line naming the field that contributes most.
``EXPORTSIM_MAX_EVENTS`` raises or lowers the cap (the fuzz harness lowers it).

The schema's lower bounds (periods of at least a day, MTBF of at least an hour) keep each term finite;
this budget keeps their product in bounds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sim.schema import Scenario, peak_flops
from sim.schema.dist import support

#: Estimated events above which a scenario is refused (override: EXPORTSIM_MAX_EVENTS).
MAX_EVENTS = 20_000_000
MONTH_DAYS = 30.4375
HOURS_PER_DAY = 24.0


def max_events() -> int:
    """The cap in force: ``EXPORTSIM_MAX_EVENTS`` if set to a positive integer, else :data:`MAX_EVENTS`."""
    raw = os.environ.get("EXPORTSIM_MAX_EVENTS", "")
    try:
        value = int(float(raw))
    except ValueError:
        return MAX_EVENTS
    return value if value > 0 else MAX_EVENTS


@dataclass
class Estimate:
    """Estimated events of one run, in total and by the dotted path of the setting that drives them."""

    total: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)

    def add(self, path: str, events: float) -> None:
        self.parts[path] = self.parts.get(path, 0.0) + events
        self.total += events

    def largest(self) -> tuple[str, float]:
        """The path contributing most, and its events."""
        return max(self.parts.items(), key=lambda kv: kv[1]) if self.parts else ("-", 0.0)


def estimate_events(s: Scenario) -> Estimate:
    """An upper estimate of the events one run of *s* processes (see the module doc)."""
    est = Estimate()
    h = max(s.horizon_days, 1.0)
    months = h / MONTH_DAYS + 1
    buyers = len(s.labs) + len(s.clouds)
    n_chips = max(len(s.chips), 1)
    est.add("-", months * (2 + 2 * buyers))  # fleet upkeep, ledger, progress
    for nid, node in s.nodes.items():
        if node.kind == "foundry":
            est.add(f"nodes.{nid}", months * (1 + 3 * len(node.allocation)))
        elif node.kind == "memory":
            est.add(f"nodes.{nid}", months * 3)
        elif node.kind == "packager":
            est.add(f"nodes.{nid}", months * (1 + 3 * n_chips))
        elif node.kind == "vendor":
            est.add(f"nodes.{nid}", months * 4 * len(node.external_supply_per_month))
            if node.allocation_policy == "pro_rata":
                est.add(f"nodes.{nid}.allocation_interval_days",
                        h / node.allocation_interval_days * (1 + 6 * max(buyers, 1)))
    for cid, cloud in s.clouds.items():
        est.add(f"clouds.{cid}", months * (2 + 8 * len(cloud.purchases_per_month)))
    for lid, lab in s.labs.items():
        products = len(lab.strategy.products) or n_chips
        est.add(f"labs.{lid}.strategy.review_interval_days",
                h / lab.strategy.review_interval_days * (2 + 10 * products))
        if lab.inference is not None:
            est.add(f"labs.{lid}.inference", months * 3)
        if lab.workloads:
            est.add(f"labs.{lid}.workloads", months * 2 * len(lab.workloads))
        for jid, job in lab.jobs.items():
            base = f"labs.{lid}.jobs.{jid}"
            est.add(base, months * 4 + 20)
            est.add(f"{base}.rental_days_block", h / job.rental_days_block * 4)
            failures: dict[str, float] = {}
            job_days = max(min(h, s.day_of(s.end) - s.day_of(job.earliest_start)), 1.0)
            for chip, mtbf in job.mtbf_hours_per_chip.items():
                lowest = max(support(mtbf)[0], 1.0)
                n = job.cluster_size.max
                spec = s.chips.get(chip)
                if spec is not None and spec.max_cluster_chips:
                    n = min(n, spec.max_cluster_chips)
                by_horizon = job_days * HOURS_PER_DAY * n / lowest
                mfu = job.mfu.get(chip) or (spec.training_mfu if spec is not None else None)
                if spec is not None and mfu is not None and support(mfu)[0] > 0:
                    # failures = chip-hours of work / MTBF, whatever the cluster size (x3 for redone work)
                    chip_hours = job.target_flop() / (peak_flops(spec, job.precision) * support(mfu)[0] * 3600.0)
                    by_horizon = min(by_horizon, 3 * chip_hours / lowest)
                failures[chip] = by_horizon
            if failures:  # a job runs on one chip type at a time
                chip = max(failures, key=failures.__getitem__)
                est.add(f"{base}.mtbf_hours_per_chip.{chip}", 3 * failures[chip])
    for rid, rule in s.rules.items():
        t = rule.treatment
        if t.kind == "cap" and t.excess == "queue":
            est.add(f"rules.{rid}.treatment.period_days", h / t.period_days * 4 * max(buyers, 1) * n_chips)
    for sid, stream in s.rental_streams.items():
        est.add(f"rental_streams.{sid}.arrivals_per_day", stream.arrivals_per_day * h * 3)
    return est


@dataclass(frozen=True)
class BudgetProblem:
    """A scenario over the run budget: the path that contributes most, and the message."""

    path: str
    message: str


def check_budget(s: Scenario, cap: int | None = None) -> BudgetProblem | None:
    """None if the estimate is within *cap* (default :func:`max_events`), else what to report."""
    cap = cap if cap is not None else max_events()
    est = estimate_events(s)
    if est.total <= cap:
        return None
    path, events = est.largest()
    return BudgetProblem(path, f"a run would process about {est.total:.3g} events, over the run budget of "
                               f"{cap:,} (this setting drives about {events:.3g}; lengthen the period, shorten the "
                               "horizon or shrink the cluster)")
