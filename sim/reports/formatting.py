"""How numbers, dates and quantities read in prose: significant digits, units, months, signs.

One helper per kind of quantity (:func:`format_value`); the briefing, the CLI and the dashboard use these so a
figure reads the same everywhere.  No statistics here (:mod:`sim.experiments.estimate`), no distribution maths
(:mod:`sim.scenario.quantities`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sim.units import MONTH_DAYS, day_to_date


def sig(x: float, n: int = 3) -> str:
    """*x* rounded to *n* significant digits, with thousands separators and no trailing zeros."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    digits = n - 1 - int(math.floor(math.log10(abs(x))))
    r = round(x, digits)
    if digits <= 0:
        return f"{int(r):,}"
    return f"{r:,.{digits}f}".rstrip("0").rstrip(".")


def sig_value(x: float, n: int = 2) -> float:
    """*x* rounded to *n* significant digits, as a number."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, n - 1 - int(math.floor(math.log10(abs(x)))))


def human(x: float) -> str:
    """A scenario input as people write it: 0.38, 3,000, 1.5 billion, 1e25."""
    a = abs(x)
    if a >= 1e15:
        m, e = f"{x:.2e}".split("e")
        return f"{m.rstrip('0').rstrip('.')}e{int(e)}"
    if a >= 1e9:
        return f"{x / 1e9:,.4g} billion"
    if a >= 1e6:
        return f"{x / 1e6:,.4g} million"
    if a >= 1000:
        return sig(x, 4)
    if x == int(x):
        return f"{int(x):,}"
    return f"{x:.3g}"


def with_sign(x: float, body: str) -> str:
    """*body* with the sign of *x* in front (a real minus sign)."""
    return ("+" if x > 0 else "\u2212" if x < 0 else "") + body


def date_text(start: dt.date, day: float) -> str:
    """Simulation day *day* from *start* as ``6 Nov 2024`` (a date, never a day number)."""
    d = day_to_date(start, day)
    return f"{d.day} {d.strftime('%b %Y')}" if d is not None else "n/a"


def month(start: dt.date, day: float) -> str:
    """Simulation day *day* from *start* as ``March 2026``."""
    d = day_to_date(start, day)
    return d.strftime("%B %Y") if d is not None else "n/a"


def format_value(fmt: str, value: Any, ctx: dict) -> str:
    """The text of a fact: one helper per kind of quantity (a trailing ``+`` means signed)."""
    if fmt == "text":
        return str(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    signed = fmt.endswith("+")
    base = fmt.rstrip("+")
    x = float(value)
    a = abs(x) if signed else x
    if base == "month":  # a simulation day -> "March 2026"; at or past the horizon: not finished
        if x >= ctx["horizon_days"] - 1e-9:
            return f"after {month(ctx['start'], ctx['horizon_days'])}"
        return month(ctx["start"], x)
    if base == "date":  # a simulation day -> "6 Nov 2024"; at or past the horizon: not finished
        if x >= ctx["horizon_days"] - 1e-9:
            return f"after {date_text(ctx['start'], ctx['horizon_days'])}"
        return date_text(ctx["start"], x)
    if base == "daymonth":  # a simulation day -> "25 Oct" (an interval's low end, in the same year as its high)
        d = day_to_date(ctx["start"], min(x, ctx["horizon_days"]))
        return f"{d.day} {d.strftime('%b')}" if d is not None else "n/a"
    if base == "usdM":  # money, compact: $19M, $1.2B, $140k (2 significant figures)
        body = (f"${sig(a / 1e9, 2)}B" if abs(a) >= 1e9 else f"${sig(a / 1e6, 2)}M" if abs(a) >= 1e6
                else f"${sig(a / 1e3, 2)}k" if abs(a) >= 1e3 else f"${sig(a, 2)}")
        return with_sign(x, body) if signed else body
    if base == "days":  # a duration in days, 2 significant figures
        body = sig(round(abs(x)), 2) if round(abs(x)) else "0"
        return with_sign(float(round(x)), body) if signed else body
    if base == "months":  # days -> months, one decimal (unsigned: a duration)
        body = f"{abs(x) / MONTH_DAYS:.1f}"
        return with_sign(round(x / MONTH_DAYS, 1), body) if signed else body
    if base == "usd":
        body = (f"${sig(a / 1e9, 2)} billion" if abs(a) >= 1e9 else f"${sig(a / 1e6, 2)} million" if abs(a) >= 1e6
                else f"${sig(a, 2)}")
    elif base == "count":  # whole units, 2 significant figures (never "239.4 chips")
        body = f"{sig(a / 1e6, 2)} million" if abs(a) >= 1e6 else (sig(float(round(a)), 2) if round(a) else "0")
    elif base == "eflops":
        body = f"{sig(a)} EFLOP/s"
    elif base == "share":
        body = f"{a * 100:.1f} %" if 0 < abs(a) < 0.01 else f"{a * 100:.0f} %"
    elif base == "pp":
        body = f"{a * 100:.0f} pp"
    elif base == "int":
        body = str(int(round(a)))
    elif base == "number":
        body = sig(a, 2)
    elif base == "index":
        body = f"{a:.2f}"
    elif base == "flop":
        body = human(a)
    else:
        raise ValueError(f"unknown format '{fmt}'")
    return with_sign(x, body) if signed and fmt != "months+" else body


__all__ = ["date_text", "format_value", "human", "month", "sig", "sig_value", "with_sign"]
