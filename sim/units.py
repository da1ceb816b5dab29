"""Units of simulated time: the one definition of days, months, hours and seconds, and day <-> date.

Time in the model is float days from the scenario's ``start`` date.  Everything else in ``sim`` imports
these; nothing redefines them.
"""

from __future__ import annotations

import datetime as dt
import math

MONTH_DAYS = 365.25 / 12  # days in an average month
HOURS_PER_DAY = 24.0  # hours per day
SECONDS_PER_DAY = 86_400.0  # seconds per day


def day_to_date(start: dt.date, day: float | None) -> dt.date | None:
    """Calendar date of simulation day *day* counted from *start* (None for None or NaN)."""
    if day is None or (isinstance(day, float) and math.isnan(day)):
        return None
    return start + dt.timedelta(days=float(day))


def date_to_day(start: dt.date, date: dt.date) -> float:
    """Days from *start* to *date* (negative before the start)."""
    return float((date - start).days)


__all__ = ["HOURS_PER_DAY", "MONTH_DAYS", "SECONDS_PER_DAY", "date_to_day", "day_to_date"]
