"""Demand shape over the calendar: weekday, season and holiday peaks.

``demand_factor(day)`` multiplies the base order rate of a day. It is deterministic (no random
draws) so forecasting models have a real pattern to learn:

- weekday: Monday busiest, Saturday quietest (``WEEKDAY``);
- season: a yearly wave peaking in early December (``1 + 0.25 cos``);
- holidays: Black Friday x3.2, Cyber Monday x2.6, the pre-Christmas run, Valentine's, Mother's Day,
  a mid-July summer sale, and dips on Christmas Day and New Year's Day (``reference.HOLIDAY_PEAKS``).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from .reference import HOLIDAY_PEAKS

# Monday .. Sunday
WEEKDAY: tuple[float, ...] = (1.18, 1.10, 1.04, 1.00, 0.96, 0.78, 0.94)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def holiday_factor(day: date) -> float:
    """Multiplier of demand for holidays and shopping peaks (1.0 on ordinary days)."""
    year = day.year
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    black_friday = thanksgiving + timedelta(days=1)
    cyber_monday = thanksgiving + timedelta(days=4)
    mothers_day = _nth_weekday(year, 5, 6, 2)
    if day == black_friday:
        return HOLIDAY_PEAKS["black_friday"]
    if day == cyber_monday:
        return HOLIDAY_PEAKS["cyber_monday"]
    if day == date(year, 12, 25):
        return HOLIDAY_PEAKS["christmas_day"]
    if day == date(year, 1, 1):
        return HOLIDAY_PEAKS["new_year"]
    if date(year, 12, 10) <= day <= date(year, 12, 20):
        return HOLIDAY_PEAKS["christmas_run"]
    if date(year, 2, 10) <= day <= date(year, 2, 13):
        return HOLIDAY_PEAKS["valentines"]
    if mothers_day - timedelta(days=5) <= day < mothers_day:
        return HOLIDAY_PEAKS["mothers_day"]
    if date(year, 7, 15) <= day <= date(year, 7, 16):
        return HOLIDAY_PEAKS["prime_summer"]
    return 1.0


def seasonal_factor(day: date, peak_doy: int = 340, amplitude: float = 0.25) -> float:
    """A yearly cosine wave, highest on ``peak_doy``."""
    doy = day.timetuple().tm_yday
    return 1.0 + amplitude * math.cos(2.0 * math.pi * (doy - peak_doy) / 365.25)


def demand_factor(day: date) -> float:
    """How busy a day is compared with an ordinary Thursday in spring (about 1.0)."""
    return WEEKDAY[day.weekday()] * seasonal_factor(day) * holiday_factor(day)
