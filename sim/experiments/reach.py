"""Why an option's change cannot reach the run it is compared with: the sentence for a variant whose main job
finishes on the same day at the same cost as its reference on every seed.

An option that equals its reference is a finding only with its reason.  "Closing remote access moves the mix 0
days" reads as "closing remote access costs nothing"; the reason is that the mix never rents abroad.  This
module reads the reason off what the option changes (the rules it adds or edits, compared field by field with
the reference scenario) and what the reference's job did on each seed (its rented share and its finish day).
It says nothing when it cannot name the reason (e.g. the option also edits a lab or a node); the reader then
gets the bare equality.

Reasons, checked in this order for each changed rule (every changed rule needs one, else there is no sentence):

- the rule is rescinded before it takes effect (a rule withdrawn before it bit);
- the rule takes effect (with its grace period) after the job has finished on every seed;
- the rule acts only on remote access (``channels: [remote]``) and the reference rents no chip-hours on any seed.

No model logic: the inputs are scenarios and per-seed figures the study already has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sim.schema import Scenario
from sim.units import day_to_date

#: Top-level scenario sections whose edits do not change what a run does (names and prose).
_PROSE = frozenset({"name", "question", "description"})


def changed_rules(reference: Scenario, option: Scenario) -> list[str] | None:
    """The ids of the rules *option* adds or edits against *reference*; None when it changes anything else
    (a lab, a node, the horizon, ...) or removes a rule: then no reason here covers the whole change."""
    a = reference.model_dump(by_alias=True, exclude=set(_PROSE))
    b = option.model_dump(by_alias=True, exclude=set(_PROSE))
    if {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} - {"rules"}:
        return None
    ra, rb = a.get("rules") or {}, b.get("rules") or {}
    if set(ra) - set(rb):
        return None
    return sorted(rid for rid in rb if ra.get(rid) != rb[rid])


def why_same(reference: Scenario, option: Scenario, reference_name: str, rented_shares: Sequence[float],
             finish_days: Sequence[float]) -> str | None:
    """The reason *option* cannot move the run of *reference* (named *reference_name*), or None.

    *rented_shares* and *finish_days* are the reference job's per-seed rented share and finish day (the horizon
    when unfinished).  E.g. ``that option rents nothing abroad on any of 20 seeds, so a remote-access rule
    (us_2026_remote_access) cannot reach it``.
    """
    rids = changed_rules(reference, option)
    if not rids:
        return None
    n = len(finish_days)
    last = max((f for f in finish_days if not math.isnan(f)), default=math.nan)
    reasons = []
    for rid in rids:
        rule = option.rules[rid]
        eff = option.day_of(rule.effective) + rule.exemptions.grace_days
        if rule.rescinded is not None and rule.rescinded <= rule.effective:
            reasons.append(f"{rid} is rescinded before it takes effect")
        elif not math.isnan(last) and eff > last:
            reasons.append(f"{rid} takes effect on {day_to_date(option.start, eff)}, after the job has finished on "
                           f"every seed (the latest finish is {day_to_date(option.start, last)})")
        elif set(rule.scope.channels) == {"remote"} and n and all(x == 0 for x in rented_shares):
            reasons.append(f"{reference_name} rents nothing abroad on any of {n} seeds, so a remote-access rule "
                           f"({rid}) cannot reach it")
        else:
            return None  # a changed rule that could reach the run: the equality is not explained here
    return "; ".join(reasons)


__all__ = ["changed_rules", "why_same"]
