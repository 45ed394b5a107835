"""Drift checks on clean data: false alarms per 60 daily checks, per model, over several seeds.

For each seed, ``DAYS`` days are generated, loaded into DuckDB and the marts the models read are
built by dbt (the real path). Then every day from ``FIRST_CHECK`` on is checked as ``ml_retrain``
would check it that day: the champion is the model trained on the last Monday (the weekly
scheduled run), so its training window is what :func:`ml.delay.split` / :func:`ml.demand.split`
give on the data known that Monday (outcomes as known then), and the latest window is the last 7
(delay) or 14 (demand) days up to the check day. The data is clean: any flag is a false alarm.
Alongside, the shifts of issue 20 applied to the latest week of each Monday's check (a week of
snow, carrier 4's shipments moved to carrier 5, distances x1.25; for demand, units halved over
the last two weeks) show the same limits still see them.

``python -m benchmarks.ml_drift [--seeds 1 2 3] [--days 180] [--scale 0.1]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from data_generator import generate

from .dbt_build import START, _bench_dir, _load, dbt

SEEDS = (1, 2, 3)
DAYS = 180
SCALE = 0.1
#: Days of history before the first daily check (five weeks: a champion has a few weeks).
FIRST_CHECK = 35
#: What the two models read (the dbt selection of the ML tests).
MARTS = ("+fct_shipments", "+fct_orders", "+fct_order_lines", "+dim_product")


@dataclass
class Tally:
    """Daily checks of one model: how many, how many flagged, and flags per shift."""

    checks: int = 0
    alarms: int = 0
    alarm_days: list[str] = field(default_factory=list)
    shifts: dict[str, list[bool]] = field(default_factory=dict)
    #: the clean check that came closest to a limit: value / limit, and which feature
    closest: tuple[float, str] = (0.0, "")
    #: the largest clean value per limit (``config.DRIFT_LIMITS`` key)
    largest: dict[str, float] = field(default_factory=dict)
    #: per shift, the smallest value its feature reached
    lowest: dict[str, float] = field(default_factory=dict)

    def shifted(self, name: str, rows: pd.DataFrame, feature: str) -> None:
        """Count one check of a shifted window: flagged when ``feature`` itself drifted."""
        row = rows[rows["feature"] == feature].iloc[0]
        self.shifts.setdefault(name, []).append(bool(row["drifted"]))
        self.lowest[name] = min(self.lowest.get(name, np.inf), abs(float(row["value"])))

    def record(self, rows: pd.DataFrame, day: object) -> None:
        """Count one clean daily check (``ml.drift.assess`` rows)."""
        from ml.drift import verdict

        self.checks += 1
        if rows["drifted"].any():
            self.alarms += 1
            self.alarm_days.append(f"{day}: {verdict(rows)['why']}")
        for name, value in rows.groupby("limit_name")["value"].agg(lambda v: v.abs().max()).items():
            self.largest[name] = max(self.largest.get(name, 0.0), float(value))
        ratio = rows["value"].abs() / rows["threshold"]
        top = rows.loc[ratio.idxmax()]
        if ratio.max() > self.closest[0]:
            self.closest = (
                float(ratio.max()),
                f"{top['feature']} {top['value']:.3f} of {top['threshold']:.3f}",
            )

    def per_60(self) -> float:
        return 60 * self.alarms / self.checks if self.checks else float("nan")


@contextmanager
def warehouse(seed: int, days: int, scale: float) -> Iterator[Path]:
    """A DuckDB file with ``days`` days of seed ``seed`` loaded and the ML marts built."""
    folder = _bench_dir() / f"ml-drift-{seed}-{uuid.uuid4().hex[:8]}"
    landing, db = folder / "landing", folder / "warehouse.duckdb"
    try:
        generate(START, days, scale, seed, landing)
        _load(db, landing, START, START + timedelta(days=days - 1))
        dbt(folder / "dbt", db, "run", "--select", *MARTS)
        yield db
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _mondays_before(day: date) -> date:
    return day - timedelta(days=day.weekday())


# ------------------------------------------------------------------ delivery delay
def delay_shifts() -> dict[str, tuple[str, Callable[[pd.DataFrame], pd.DataFrame]]]:
    def snow(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(is_snow=1.0, is_rain=0.0, is_storm=0.0)

    def carrier(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(carrier_id=df["carrier_id"].replace(4.0, 5.0))

    def distance(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(distance_km=df["distance_km"] * 1.25)

    return {
        "a week of snow": ("is_snow", snow),
        "carrier 4 -> 5": ("carrier_id", carrier),
        "distance x1.25": ("distance_km", distance),
    }


def delay_checks(frame: pd.DataFrame, first_check: int = FIRST_CHECK) -> Tally:
    """Every day's check of the delivery-delay model on ``frame`` (``ml.delay.features``)."""
    from ml import config, delay
    from ml.drift import LATEST_DAYS, assess
    from ml.labels import known_late

    tally = Tally()
    days = sorted(frame["shipped_date"].unique())
    windows: dict[date, tuple[date, date]] = {}
    shifts = delay_shifts()
    for check_day in days[first_check:]:
        monday = _mondays_before(check_day)
        if monday not in windows:
            known = frame[frame["shipped_date"] <= monday].copy()
            known["late"] = known_late(known, as_of=pd.Timestamp(monday) + pd.Timedelta(hours=4))
            tr, _ = delay.split(known)
            windows[monday] = (tr["shipped_date"].min(), tr["shipped_date"].max())
        window = windows[monday]
        train = frame[frame["shipped_date"].between(*window)]
        start = check_day - timedelta(days=LATEST_DAYS[config.DELAY_MODEL] - 1)
        latest = frame[frame["shipped_date"].between(start, check_day)]
        spans = {"training_window": window, "latest_window": (start, check_day)}
        tally.record(assess(config.DELAY_MODEL, delay.DRIFT, train, latest, **spans), check_day)
        if check_day.weekday() == 0:
            for name, (feature, shift) in shifts.items():
                shifted = assess(config.DELAY_MODEL, delay.DRIFT, train, shift(latest), **spans)
                tally.shifted(name, shifted, feature)
    return tally


# ------------------------------------------------------------------ demand
def demand_checks(units: pd.DataFrame, first_check: int = FIRST_CHECK) -> Tally:
    """Every day's check of the demand model on ``units`` (``ml.demand.daily_units``)."""
    from ml import config, demand
    from ml.drift import LATEST_DAYS, assess

    tally = Tally()
    frame = demand.realised(units)
    latest_days = LATEST_DAYS[config.DEMAND_MODEL]
    windows: dict[date, tuple[pd.Timestamp, pd.Timestamp]] = {}
    for i in range(first_check, len(units)):
        check_day = units.index[i]
        monday = _mondays_before(check_day.date())
        if monday not in windows:
            known = units[units.index.date <= monday]
            windows[monday] = (known.index[0], demand.split(known).train["day"].max())
        window = windows[monday]
        train = frame[frame["day"].between(*window)]
        start = check_day - pd.Timedelta(days=latest_days - 1)
        latest = frame[frame["day"].between(start, check_day)]
        spans = {"training_window": window, "latest_window": (start, check_day)}
        rows = assess(config.DEMAND_MODEL, demand.DRIFT, train, latest, **spans)
        tally.record(rows, check_day.date())
        if check_day.weekday() == 0:
            halved = units[units.index <= check_day].copy()
            halved.loc[halved.index >= start] *= 0.5
            shifted_frame = demand.realised(halved)
            shifted = shifted_frame[shifted_frame["day"] >= start]
            flagged = assess(config.DEMAND_MODEL, demand.DRIFT, train, shifted, **spans)
            tally.shifted("units halved, 2 weeks", flagged, "forecast_bias")
    return tally


# ------------------------------------------------------------------ the rows
def measure(seeds: tuple[int, ...], days: int, scale: float) -> dict[str, Tally]:
    """Both models' tallies, summed over ``seeds``."""
    from ingestion.warehouse import connect
    from ml import config, delay, demand

    total = {config.DELAY_MODEL: Tally(), config.DEMAND_MODEL: Tally()}
    for seed in seeds:
        with warehouse(seed, days, scale) as db:
            env = {**os.environ, "WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(db)}
            with connect(env) as wh:
                frame, units = delay.features(wh), demand.daily_units(wh)
        for model, tally in (
            (config.DELAY_MODEL, delay_checks(frame)),
            (config.DEMAND_MODEL, demand_checks(units)),
        ):
            t = total[model]
            t.checks += tally.checks
            t.alarms += tally.alarms
            t.alarm_days += [f"seed {seed} {d}" for d in tally.alarm_days]
            for name, value in tally.largest.items():
                t.largest[name] = max(t.largest.get(name, 0.0), value)
            if tally.closest[0] > t.closest[0]:
                t.closest = (tally.closest[0], f"{tally.closest[1]} (seed {seed})")
            for name, flags in tally.shifts.items():
                t.shifts.setdefault(name, []).extend(flags)
                t.lowest[name] = min(t.lowest.get(name, np.inf), tally.lowest[name])
    return total


def run(
    seeds: tuple[int, ...] = SEEDS, days: int = DAYS, scale: float = SCALE
) -> list[tuple[str, str, str]]:
    """Rows of (measure, value, note) for the benchmark table."""
    out = []
    for model, t in measure(seeds, days, scale).items():
        where = f"{len(seeds)} seeds x {t.checks // len(seeds)} daily checks, {days} days, scale {scale:g}"
        out.append(
            (
                f"{model}: false alarms per 60 daily checks",
                f"{t.per_60():.2f}",
                f"{t.alarms} of {t.checks}; {where}",
            )
        )
        out.append(
            (f"{model}: closest clean check to a limit", f"{t.closest[0]:.0%}", t.closest[1])
        )
        largest = ", ".join(f"{k} {v:.3f}" for k, v in sorted(t.largest.items()))
        out.append((f"{model}: largest clean value per limit", "", largest))
        for name, flags in t.shifts.items():
            out.append(
                (
                    f"{model}: {name} flagged",
                    f"{sum(flags)}/{len(flags)}",
                    f"weekly checks, shift on the latest window; lowest value {t.lowest[name]:.3f}",
                )
            )
        for day in t.alarm_days[:3]:
            out.append((f"{model}: false alarm", "", day[:120]))
    return out


def main() -> None:
    from .table import table

    parser = argparse.ArgumentParser(prog="python -m benchmarks.ml_drift", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--scale", type=float, default=SCALE)
    args = parser.parse_args()
    rows = run(tuple(args.seeds), args.days, args.scale)
    print(table("ML drift checks on clean data", rows))


if __name__ == "__main__":
    main()
