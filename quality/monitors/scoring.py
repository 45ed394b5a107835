"""The statistics of the monitors, as pure functions of daily numbers (no warehouse here).

**A day** (:func:`day_score`): counts and sums are scored on the log scale, rates on the logit
scale, against the trailing ``window_days``: each weekday's typical offset from the window's
median (weekdays seen at least twice), the level as the median of the weekday-adjusted values
of the last ``level_days``, the spread as 1.4826 x the median absolute deviation of the
weekday-adjusted values (corrected for the parameters fitted), never below the sampling noise
(Poisson ``1/sqrt(count)``, binomial ``1/sqrt(n p (1-p))`` with the day's own denominator) or
``relative_floor``. ``z = (today - expected) / spread``. The day itself is never in its baseline.

**A window** (:func:`window_score`): the last ``window_days`` pooled and compared with the
``reference_days`` before them (a whole number of weeks, so each weekday weighs the same). Counts
and sums: quasi-Poisson, rates: quasi-binomial, with the overdispersion estimated from the
reference days (never below 1 for counts and rates). It sees slow drifts a day-level score
misses, and metrics with too few rows a day to score a day at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Verdict:
    status: str  # ok | insufficient_history | low_volume | no_value (anomaly: set by caller)
    value: float | None = None
    baseline: float | None = None
    spread: float | None = None  # one standard deviation, in the metric's own units
    z: float | None = None
    history: int = 0
    volume: float | None = None  # today's rows (window: the window's rows)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _expit(y: float) -> float:
    return 1.0 / (1.0 + math.exp(-y))


def _transform(kind: str, num: float, den: float, floor: float) -> float:
    if kind == "rate":
        return _logit((num + 0.5) / (den + 1.0))
    return math.log(max(num, floor))


def weekday_effects(days: list[date], y: np.ndarray) -> np.ndarray:
    """Each weekday's typical offset from the days around it (the median of the days within 3
    days either side, itself excluded), so a trend or a ramp-up does not leak into it. A weekday
    seen at least twice gets the median of its offsets and one 0 (a pull toward no effect, so one
    odd day cannot set it); once: 0."""
    at = dict(zip(days, y, strict=True))
    offsets: dict[int, list[float]] = {}
    for d in days:
        around = [at[u] for k in range(-3, 4) if k and (u := d + timedelta(days=k)) in at]
        if len(around) >= 3:
            offsets.setdefault(d.weekday(), []).append(at[d] - float(np.median(around)))
    effect = np.zeros(7)
    for k, devs in offsets.items():
        if len(devs) >= 2:
            effect[k] = float(np.median([*devs, 0.0]))
    return effect


@dataclass(frozen=True)
class Baseline:
    expected: float  # on the transformed scale (log or logit)
    sigma: float  # day-to-day noise, plus the uncertainty of ``expected``
    history: int
    inflation: float  # sigma / day-to-day noise: the share of the uncertainty of ``expected``


def baseline(y: dict[date, float], day: date, level_days: int) -> Baseline | None:
    """The expected transformed value of ``day`` from the history ``y`` (``day`` not in it):
    the level of the last ``level_days`` (weekday-adjusted median) plus ``day``'s weekday effect;
    the noise from same-weekday differences a week apart (their variance is twice the day's,
    and no fitted parameter shrinks them). None: fewer than 3 such differences."""
    days = sorted(y)
    values = np.array([y[d] for d in days])
    weekdays = np.array([d.weekday() for d in days])
    effect = weekday_effects(days, values)
    adjusted = values - effect[weekdays]
    recent = [i for i, d in enumerate(days) if (day - d).days <= level_days]
    level = float(np.median(adjusted[recent] if len(recent) >= 3 else adjusted))
    diffs = [y[d] - y[d - timedelta(days=7)] for d in days if d - timedelta(days=7) in y]
    if len(diffs) < 3:
        return None
    sigma = MAD_TO_SD * float(np.median(np.abs(diffs))) / math.sqrt(2)
    # the expected value is estimated too: the level from the recent days, the weekday effect
    # from the few same-weekday days (a median of n has about pi / 2n of one day's variance)
    same = max(int((weekdays == day.weekday()).sum()), 1)
    n_level = len(recent) if len(recent) >= 3 else len(days)
    inflation = math.sqrt(1 + math.pi / 2 * (1 / same + 1 / n_level))
    return Baseline(level + float(effect[day.weekday()]), sigma * inflation, len(y), inflation)


def _sum_noise(squares, num, day: date, expected: float) -> float:
    """Relative sampling noise of a sum of rows: sqrt(sum of squares) / sum (0 when unknown)."""
    if not squares or squares.get(day, 0.0) <= 0:
        return 0.0
    return math.sqrt(squares[day]) / max(num.get(day, 0.0), expected, 1e-9)


def _history(day: date, window_days: int, first_day: date | None, ok) -> list[date]:
    window = [day - timedelta(days=k) for k in range(1, window_days + 1)]
    return sorted(d for d in window if d != first_day and ok(d))


def day_score(
    kind: str,
    num: dict[date, float],
    den: dict[date, float],
    volume: dict[date, float],
    day: date,
    *,
    window_days: int,
    level_days: int,
    min_history: int,
    min_volume: float,
    relative_floor: float,
    first_day: date | None = None,
    squares: dict[date, float] | None = None,
) -> Verdict:
    """Score ``day`` of one series (``num``/``den`` per day: for counts and sums both hold the
    value and the rows; for rates the summed numerator and denominator). ``first_day``, the
    first day the series has data, is never in a baseline: an initial load or a partial day."""
    rows_today = volume.get(day, 0.0)
    if kind == "rate":
        if den.get(day, 0.0) <= 0:
            return Verdict("no_value", volume=rows_today)
        value = num[day] / den[day]
    else:
        value = num.get(day, 0.0)  # no rows that day: a count or a sum of 0
    hist = _history(
        day,
        window_days,
        first_day,
        lambda d: volume.get(d, 0.0) > 0 and (den if kind == "rate" else num).get(d, 0.0) > 0,
    )
    if len(hist) < min_history:
        return Verdict("insufficient_history", value, history=len(hist), volume=rows_today)
    if float(np.median([volume[d] for d in hist])) < min_volume:
        return Verdict("low_volume", value, history=len(hist), volume=rows_today)
    floor = max(float(np.median([num[d] for d in hist])) * 1e-3, 0.5)
    y = {d: _transform(kind, num[d], den.get(d, 0.0), floor) for d in hist}
    b = baseline(y, day, level_days)
    if b is None:
        return Verdict("insufficient_history", value, history=len(hist), volume=rows_today)
    expected = _expit(b.expected) if kind == "rate" else math.exp(b.expected)
    if kind == "count":
        noise = 1.0 / math.sqrt(max(expected, 1.0))
    elif kind == "rate":
        p = min(max(expected, 1e-4), 1 - 1e-4)
        noise = 1.0 / math.sqrt(max(den[day], 1.0) * p * (1 - p))
    else:  # a sum of rows: sqrt(sum of squares) over the sum
        noise = _sum_noise(squares, num, day, expected)
    scale = max(b.sigma, noise * b.inflation, relative_floor)
    today = _transform(kind, num.get(day, 0.0), den.get(day, 0.0), floor)
    z = (today - b.expected) / scale
    units = scale * expected * (1 - expected) if kind == "rate" else scale * expected
    return Verdict("ok", value, expected, units, z, len(hist), rows_today)


def segment_score(
    kind: str,
    seg: tuple[dict[date, float], dict[date, float], dict[date, float]],
    total: tuple[dict[date, float], dict[date, float]],
    day: date,
    *,
    window_days: int,
    level_days: int,
    min_history: int,
    min_volume: float,
    min_share: float,
    relative_floor: float,
    first_day: date | None = None,
    squares: tuple[dict[date, float], dict[date, float]] | None = None,
) -> Verdict:
    """Score one segment's ``day`` against the company total of the same day, so a move of the
    whole company (a busy day, a quiet one) is not read as a move of every segment.

    Counts and sums: the segment's share of the total (logit scale, binomial noise floor for
    counts); the expected value is the expected share times today's total. Rates: the segment's
    rate relative to the rate of every other segment together (difference of logits, binomial
    floor with the segment's denominator), so a big segment does not dilute its own move. ``seg`` is (numerator, denominator, rows) per day, ``total`` (numerator,
    denominator); ``squares`` (sums) the segment's and the total's sums of squared rows."""
    s_num, s_den, rows = seg
    t_num, t_den = total
    rows_today = rows.get(day, 0.0)
    whole = t_den if kind == "rate" else t_num
    if whole.get(day, 0.0) <= 0 or (kind == "rate" and s_den.get(day, 0.0) <= 0):
        return Verdict("no_value", volume=rows_today)
    value = s_num[day] / s_den[day] if kind == "rate" else s_num.get(day, 0.0)

    def rest_rate(d: date) -> float:
        rest_num = t_num.get(d, 0.0) - s_num.get(d, 0.0)
        return _logit((rest_num + 0.5) / (t_den.get(d, 0.0) - s_den.get(d, 0.0) + 1.0))

    def y_of(d: date) -> float:
        if kind == "rate":
            return _logit((s_num.get(d, 0.0) + 0.5) / (s_den[d] + 1.0)) - rest_rate(d)
        if kind == "count":
            return _logit((s_num.get(d, 0.0) + 0.5) / (t_num[d] + 1.0))
        return _logit(s_num.get(d, 0.0) / t_num[d])

    mine = s_den if kind == "rate" else s_num
    hist = _history(
        day,
        window_days,
        first_day,
        lambda d: rows.get(d, 0.0) > 0 and mine.get(d, 0.0) > 0 and whole.get(d, 0.0) > 0,
    )
    if len(hist) < min_history:
        return Verdict("insufficient_history", value, history=len(hist), volume=rows_today)
    typical_share = float(np.median([(mine[d] / whole[d]) for d in hist]))
    if float(np.median([rows[d] for d in hist])) < min_volume or typical_share < min_share:
        return Verdict("low_volume", value, history=len(hist), volume=rows_today)
    b = baseline({d: y_of(d) for d in hist}, day, level_days)
    if b is None:
        return Verdict("insufficient_history", value, history=len(hist), volume=rows_today)
    if kind == "rate":
        p = _expit(rest_rate(day) + b.expected)
        n = s_den[day]
        expected = p
    else:
        p = _expit(b.expected)
        n = t_num[day]
        expected = p * t_num[day]
    q = min(max(p, 1e-4), 1 - 1e-4)
    if kind != "sum":
        noise = 1.0 / math.sqrt(max(n, 1.0) * q * (1 - q))
    elif squares and squares[1].get(day, 0.0) > 0:
        # the share's noise from the rows of the segment and of the rest (sums of squares)
        mine_sq, total_sq = squares[0].get(day, 0.0), squares[1][day]
        var = ((1 - q) ** 2 * mine_sq + q**2 * max(total_sq - mine_sq, 0.0)) / t_num[day] ** 2
        noise = math.sqrt(var) / (q * (1 - q))
    else:
        noise = 0.0
    scale = max(b.sigma, noise * b.inflation, relative_floor)
    z = (y_of(day) - b.expected) / scale
    units = scale * q * (1 - q) * (1 if kind == "rate" else t_num[day])
    return Verdict("ok", value, expected, units, z, len(hist), rows_today)


def _reference(day: date, window_days: int, reference_days: int, seen: set[date]):
    """(window days, reference days) ending at ``day``; the reference a whole number of weeks
    of days that have data, at most ``reference_days``."""
    window = [day - timedelta(days=k) for k in range(window_days)]
    before = window[-1] - timedelta(days=1)
    available = 0
    while available < reference_days and (before - timedelta(days=available)) in seen:
        available += 1
    weeks = available // 7
    reference = [before - timedelta(days=k) for k in range(weeks * 7)]
    return window, reference


def window_score(
    kind: str,
    num: dict[date, float],
    den: dict[date, float],
    volume: dict[date, float],
    day: date,
    *,
    window_days: int,
    reference_days: int,
    min_reference_days: int,
    min_volume: float,
    squares: dict[date, float] | None = None,
    days_seen: set[date] | None = None,
) -> Verdict:
    """Score the ``window_days`` ending at ``day`` against the weeks before them (``squares``:
    a sum's daily sum of squared rows). ``days_seen``: the days with data at all (a segment
    without rows on one of them had none that day); by default the series' own days."""
    seen = days_seen if days_seen is not None else {d for d, v in volume.items() if v > 0}
    window, reference = _reference(day, window_days, reference_days, seen)
    rows_window = sum(volume.get(d, 0.0) for d in window)
    if len(reference) < min_reference_days:
        return Verdict("insufficient_history", history=len(reference), volume=rows_window)
    r = len(reference)
    rows_ref = sum(volume.get(d, 0.0) for d in reference) * window_days / r
    if rows_ref < min_volume:
        return Verdict("low_volume", history=r, volume=rows_window)
    w_num = sum(num.get(d, 0.0) for d in window)
    r_num = sum(num.get(d, 0.0) for d in reference)
    if kind == "rate":
        w_den = sum(den.get(d, 0.0) for d in window)
        r_den = sum(den.get(d, 0.0) for d in reference)
        if w_den <= 0:
            return Verdict("no_value", history=r, volume=rows_window)
        p = r_num / r_den
        q = min(max(p, 0.5 / r_den), 1 - 0.5 / r_den)
        pearson = [
            (num.get(d, 0.0) - q * den[d]) ** 2 / (den[d] * q * (1 - q))
            for d in reference
            if den.get(d, 0.0) > 0
        ]
        phi = max(1.0, sum(pearson) / max(len(pearson) - 1, 1))
        sd = math.sqrt(phi * q * (1 - q) * (1 / w_den + 1 / r_den))
        value = w_num / w_den
        return Verdict("ok", value, p, sd, (value - p) / sd, r, rows_window)
    expected = r_num * window_days / r
    if expected <= 0:
        return Verdict("low_volume", history=r, volume=rows_window)
    # overdispersion from the reference days around their weekday means
    by_weekday: dict[int, list[float]] = {}
    for d in reference:
        by_weekday.setdefault(d.weekday(), []).append(num.get(d, 0.0))
    means = {k: float(np.mean(v)) for k, v in by_weekday.items()}
    resid = [
        (num.get(d, 0.0) - means[d.weekday()]) ** 2 / means[d.weekday()]
        for d in reference
        if means[d.weekday()] > 0
    ]
    phi = sum(resid) / max(len(resid) - len(means), 1)
    per_row = r_num / max(sum(volume.get(d, 0.0) for d in reference), 1.0)
    phi = max(phi, 1.0 if kind == "count" else per_row)
    var = phi * expected * (1 + window_days / r)
    if kind == "sum" and squares:
        # a sum of rows varies at least by its rows' squares (one big row moves it a lot)
        r_sq = sum(squares.get(d, 0.0) for d in reference)
        var = max(var, r_sq * window_days / r * (1 + window_days / r))
    sd = math.sqrt(var)
    return Verdict("ok", w_num, expected, sd, (w_num - expected) / sd, r, rows_window)


def breaches(
    z: float,
    threshold: float,
    direction: str,
    ratio: float | None = None,
    max_ratio: float | None = None,
    ratio_z: float | None = None,
) -> bool:
    """Whether ``z`` crosses ``threshold`` the way ``direction`` watches; or, with
    ``max_ratio``, whether the value is off its expected value by that factor or more
    (``ratio`` = value / expected) while ``|z|`` is above ``ratio_z``: a halved or doubled
    total is worth a look even where the history is too short or too noisy for a high z."""
    big_drop = big_spike = False
    if max_ratio and ratio is not None and ratio_z is not None:
        big_drop = ratio <= 1 / max_ratio and z < -ratio_z
        big_spike = ratio >= max_ratio and z > ratio_z
    if direction == "drop":
        return z < -threshold or big_drop
    if direction == "spike":
        return z > threshold or big_spike
    return abs(z) > threshold or big_drop or big_spike
