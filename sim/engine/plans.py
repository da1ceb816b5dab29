"""Pure planning arithmetic used by the mechanisms: no SimPy, no state, exact and testable.

- :func:`packaging_plan`: how many packages of each chip line a packager assembles this month from
  the dies, HBM stacks and capacity on hand; :func:`packaging_value`, what that plan maximises.
- :func:`pro_rata`: a vendor's stock split among buyers in proportion to their open orders.
- :func:`owned_hourly_usd`: the full hourly cost of owning a chip (capex over life, networking,
  financing, power), the basis on which owning is compared with renting.
- :func:`expected_run_days`: a job's expected wall time on a cluster, with failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOURS_PER_YEAR = 365.25 * 24.0


@dataclass(frozen=True, slots=True)
class Line:
    """One chip line at a packager: what one package needs and what it is worth."""

    chip: str
    dies_per_package: int
    hbm_stacks: int
    value: float  # dense FLOP/s of one package: what the plan maximises
    dies: int  # good dies on hand for this line
    dies_coming: int = 0  # good dies on their way to the packager (from wafers already started)


def packaging_plan(lines: list[Line], capacity: int, hbm: int) -> dict[str, int]:
    """Packages per line this month: greedy in order of value per HBM stack, then per package.

    Each package of a line uses ``dies_per_package`` of its own dies, ``hbm_stacks`` of the shared HBM
    and one slot of the shared capacity.  Lines are filled in decreasing value per stack (value per
    package when a line needs no HBM), so a scarce stack or slot goes where it makes the most compute.
    Stacks a line cannot use this month because it is short of stacks are kept for it (not spent on a line
    worth less per stack), so an extra die of a lesser line never takes the stacks a better line would have
    completed next month; the stacks its dies already on the way will need are kept for it too.

    What the plan maximises is therefore not this month's compute alone but :func:`packaging_value`: this
    month's packages plus the stacks kept for a line short of them, at that line's value per stack.  When the
    line order also ranks value per package (true of the catalogue's Ascend 910C over 910B: 100 vs 80 TFLOP/s
    per stack, 800 vs 320 per package) and no dies are on the way, more of any input never yields less of that
    value.  With dies on the way it can: the stacks held back for them grow with the capacity they could fill
    (910B 9 dies + 6 coming, 910C 1 + 20 coming, 23 stacks: capacity 1 plans one 910B, capacity 9 plans nothing
    and holds the stacks for next month's 910C), and counting the held stacks in the value does not make it
    monotone either.  This month's compute alone can fall: 12 -> 16 910C dies with 3 910B dies, 9 slots and 60
    stacks plans 6 x 910C + 3 x 910B (5,760 TFLOP/s) -> 7 x 910C (5,600), the 4 stacks left kept for the 910C
    line next month (worth 400 there).  Over a run the run-level property holds up to a month's output
    (``tests/engine/test_supply_monotone.py``).
    """
    return _plan(lines, capacity, hbm)[0]


def packaging_value(lines: list[Line], capacity: int, hbm: int) -> float:
    """The plan's objective: the value of this month's packages plus that of the stacks kept for a line short of
    them (at the line's value per stack; stacks kept for dies on the way are not counted)."""
    out, kept_value = _plan(lines, capacity, hbm)
    return sum(ln.value * out[ln.chip] for ln in lines) + kept_value


def _plan(lines: list[Line], capacity: int, hbm: int) -> tuple[dict[str, int], float]:
    def order(ln: Line):
        per_stack = ln.value / ln.hbm_stacks if ln.hbm_stacks else math.inf
        return (-per_stack, -ln.value, ln.chip)

    out: dict[str, int] = {}
    kept_value = 0.0
    slots = max(int(capacity), 0)
    stacks = max(int(hbm), 0)
    for ln in sorted(lines, key=order):
        k = ln.dies // ln.dies_per_package if ln.dies_per_package > 0 else 0
        k = min(k, slots)
        hbm_bound = False
        if ln.hbm_stacks:
            hbm_bound = stacks // ln.hbm_stacks < k
            k = min(k, stacks // ln.hbm_stacks)
        k = max(k, 0)
        out[ln.chip] = k
        slots -= k
        stacks -= k * ln.hbm_stacks
        if hbm_bound:
            kept_value += stacks * ln.value / ln.hbm_stacks
            stacks = 0  # the stacks left are kept for this line next month, not spent on a line worth less per stack
        elif ln.hbm_stacks and ln.dies_coming:
            # keep what this line's dies on the way will need next month (at most a month's capacity), so a lesser
            # line does not spend it first
            soon = min(ln.dies_coming // ln.dies_per_package, max(int(capacity) - k, 0))
            stacks -= min(stacks, soon * ln.hbm_stacks)
    return out, kept_value


class WholeUnits:
    """Turns a stream of fractional quantities (units a month, yields x packages) into whole units, carrying the
    fraction to the next call so nothing is lost to rounding."""

    __slots__ = ("carry",)

    def __init__(self) -> None:
        self.carry = 0.0

    def take(self, amount: float) -> int:
        """Whole units of the amount so far; the fraction stays for next time."""
        self.carry += amount
        whole = int(self.carry)
        self.carry -= whole
        return whole


def pro_rata(stock: int, wants: dict[str, int]) -> dict[str, int]:
    """Split *stock* among buyers in proportion to what each wants (largest remainder, ties by buyer id).

    Nobody gets more than it wants; when stock covers every want, everyone is served in full.
    """
    total = sum(q for q in wants.values() if q > 0)
    if total <= 0 or stock <= 0:
        return {b: 0 for b in wants}
    if stock >= total:
        return {b: max(q, 0) for b, q in wants.items()}
    exact = {b: stock * max(q, 0) / total for b, q in wants.items()}
    got = {b: int(math.floor(x)) for b, x in exact.items()}
    left = stock - sum(got.values())
    for b in sorted(wants, key=lambda b: (-(exact[b] - got[b]), b)):
        if left <= 0:
            break
        if got[b] < wants[b]:
            got[b] += 1
            left -= 1
    return got


def owned_hourly_usd(price_usd: float, life_years: float, tdp_w: float, *, networking_capex_share: float = 0.0,
                     annual_financing_rate: float = 0.0, pue: float = 1.0, electricity_usd_per_kwh: float = 0.0) -> float:
    """Full cost of owning one chip for an hour: capex (+ networking) over its life, financing, power."""
    capex = price_usd * (1.0 + networking_capex_share) / (life_years * HOURS_PER_YEAR)
    financing = price_usd * (1.0 + networking_capex_share) * annual_financing_rate / HOURS_PER_YEAR
    power = tdp_w / 1000.0 * max(pue, 1.0) * electricity_usd_per_kwh
    return capex + financing + power


def expected_run_days(target_flop: float, n: int, peak_flop_s: float, mfu: float, *, mtbf_hours: float | None = None,
                      checkpoint_hours: float = 1.0, restart_hours: float = 0.0) -> float:
    """Expected wall days to do *target_flop* on *n* chips, with failures (inf when no progress is possible).

    Without failures: C / (n x peak x MFU x 86,400).  Failures arrive at n / MTBF per hour and each costs
    half a checkpoint interval of redone work plus the restart, so the useful share of time is
    1 / (1 + n / MTBF x (checkpoint / 2 + restart)).
    """
    rate = n * peak_flop_s * mfu
    if rate <= 0:
        return math.inf
    days = target_flop / rate / 86_400.0
    if mtbf_hours:
        days *= 1.0 + n / mtbf_hours * (checkpoint_hours / 2.0 + restart_hours)
    return days
