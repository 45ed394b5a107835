"""Drift checks: per feature kind on real computed distributions, then on a real warehouse (DuckDB
and PostgreSQL) with a real champion in MLflow: quiet on clean data, flagged on each shift of
issue 20 (a week of snow, carrier 4 moved to carrier 5, distances x1.25; demand halved over two
weeks), and at most one false alarm per 60 clean daily checks over months."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml.drift import Watch, assess, category_counts, measure, noise, psi, store
from tests.ml_support import gate, ml_warehouse, postgres_warehouse

WINDOWS = {
    "training_window": (date(2026, 1, 1), date(2026, 3, 31)),
    "latest_window": (date(2026, 4, 1), date(2026, 4, 7)),
}


def _frame(shift: float, seed: int, n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "distance_km": rng.normal(300 + shift, 50, n),
            "carrier_id": rng.choice(
                [1.0, 2.0, 3.0], n, p=[0.5, 0.3, 0.2] if shift == 0 else [0.1, 0.3, 0.6]
            ),
        }
    )


# ------------------------------------------------------------------ statistics
def test_psi_is_zero_for_identical_windows():
    df = _frame(0, 1)
    assert psi(df["distance_km"], df["distance_km"]) == pytest.approx(0, abs=1e-9)
    assert psi(df["carrier_id"], df["carrier_id"], "category") == pytest.approx(0, abs=1e-9)


def test_psi_is_large_for_a_shifted_distribution_and_small_for_a_resample():
    base, same, shifted = _frame(0, 1), _frame(0, 2), _frame(100, 3)
    assert psi(base["distance_km"], same["distance_km"]) < 0.05
    assert psi(base["distance_km"], shifted["distance_km"]) > 1.0
    assert psi(base["carrier_id"], shifted["carrier_id"], "category") > 0.5


def test_a_binary_feature_is_compared_as_categories_so_a_snow_week_shows():
    """6% snow in training, all snow in the latest week: one decile bin held both before."""
    rng = np.random.default_rng(7)
    train = pd.Series((rng.random(8000) < 0.06).astype(float), name="is_snow")
    snowy = pd.Series(np.ones(700), name="is_snow")
    calm = pd.Series((rng.random(700) < 0.06).astype(float), name="is_snow")
    watch = Watch("is_snow", "category", "weather")
    flagged = measure(watch, train.to_frame(), snowy.to_frame())
    quiet = measure(watch, train.to_frame(), calm.to_frame())
    assert flagged.drifted and flagged.value > 2.0, flagged
    assert not quiet.drifted and quiet.value < 0.05, quiet


def test_ids_are_categories_so_neighbouring_ids_do_not_share_a_bin():
    """Carrier 4's shipments moved to carrier 5: invisible to decile bins, plain as categories."""
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"carrier_id": rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], 8000)})
    latest = pd.DataFrame({"carrier_id": rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], 700)})
    latest.loc[latest["carrier_id"] == 4.0, "carrier_id"] = 5.0
    as_category = measure(Watch("carrier_id", "category"), train, latest)
    as_number = measure(Watch("carrier_id", "numeric"), train, latest)
    assert as_category.drifted and as_category.value > 1.0, as_category
    assert as_number.value < as_category.value / 3, as_number
    from ml import delay

    kinds = {w.feature: w.kind for w in delay.DRIFT}
    assert kinds["carrier_id"] == kinds["facility_id"] == kinds["is_snow"] == "category"


def test_rare_categories_are_pooled_but_a_new_large_one_still_counts():
    train = pd.Series(["a"] * 5000 + ["b"] * 3000 + ["rare1"] * 5 + ["rare2"] * 3)
    rare_moved = pd.Series(["a"] * 500 + ["b"] * 300 + ["rare2"] * 4 + ["rare3"] * 2)
    new_one = pd.Series(["a"] * 300 + ["b"] * 300 + ["new"] * 200)
    e, a, cats = category_counts(train, rare_moved, min_count=30)
    assert cats == ["a", "b", "(rare or new)"] and list(e) == [5000, 3000, 8] and a[-1] == 6
    watch = Watch("x", "category")
    assert not measure(watch, train.to_frame("x"), rare_moved.to_frame("x")).drifted
    assert measure(watch, train.to_frame("x"), new_one.to_frame("x")).drifted


def test_the_sampling_allowance_shrinks_as_windows_grow():
    assert noise(10, 500, 100) > noise(10, 5000, 1000) > noise(10, 50000, 10000) > 0
    assert noise(1, 100, 100) == 0.0


def test_empty_window_names_the_problem():
    with pytest.raises(ValueError, match="empty"):
        psi(pd.Series([1.0, 2.0]), pd.Series([], dtype=float))
    with pytest.raises(ValueError, match="latest window has no rows"):
        measure(Watch("x", "numeric"), pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": []}))


def test_a_training_window_shorter_than_the_latest_window_is_not_compared_but_retrains():
    from ml.drift import too_short, verdict

    rows = too_short(
        "delivery_delay",
        "1",
        (date(2026, 1, 2), date(2026, 1, 7)),
        (date(2026, 1, 8), date(2026, 1, 14)),
    )
    said = verdict(rows)
    assert said["retrain"] is True and said["drifted"] == []
    assert said["why"].startswith(
        "not compared: the champion's training window has 6 day(s), fewer than the 7-day"
    )


def test_drift_rows_are_written_and_an_older_table_gains_the_new_columns(tmp_path, monkeypatch):
    from ingestion.warehouse import connect

    monkeypatch.setenv("WAREHOUSE_TARGET", "duckdb")
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "wh.duckdb"))
    watches = [Watch("distance_km", "numeric"), Watch("carrier_id", "category")]
    drift = assess("delivery_delay", watches, _frame(0, 1), _frame(100, 3), **WINDOWS)
    with connect() as wh:
        # a table as an earlier version wrote it (psi, no kind/statistic/value columns)
        wh.execute("create schema ml")
        wh.execute(
            "create table ml.feature_drift (model varchar, feature varchar, psi double, "
            "drifted boolean, computed_at timestamp)"
        )
        wh.execute("insert into ml.feature_drift values ('delivery_delay', 'x', 0.1, false, now())")
        assert store(wh, drift) == 2
        got = wh.frame(
            "select feature, kind, statistic, drifted from ml.feature_drift "
            "where statistic is not null order by feature"
        )
        old = wh.rows("select count(*) from ml.feature_drift where statistic is null")[0][0]
    assert got["feature"].tolist() == ["carrier_id", "distance_km"]
    assert got["kind"].tolist() == ["category", "numeric"] and got["drifted"].all()
    assert old == 1


# ------------------------------------------------------------------ on a warehouse
@pytest.fixture(scope="module")
def champions(tmp_path_factory):
    """120 days (scale 0.1) in DuckDB, a champion of each model trained on it."""
    from ml import tasks

    for env in ml_warehouse(tmp_path_factory.mktemp("ml_drift"), days=120, scale=0.1):
        gate(True)
        for model in ("delivery_delay", "demand"):
            assert tasks.retrain(model)["promotion"]["alias"] == "champion"
        yield env


MARTS = ("fct_shipments", "fct_orders", "fct_order_lines", "dim_product")


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine(request, champions):
    """The environment of the warehouse to check: the DuckDB file, or a fresh PostgreSQL
    database holding a copy of the same marts."""
    from ingestion.warehouse import connect

    if request.param == "duckdb":
        yield dict(os.environ)
        return
    with connect() as duck:
        frames = {t: duck.frame(f"select * from marts.{t}") for t in MARTS}
    with postgres_warehouse() as pg:
        with connect(pg) as wh:
            for table, df in frames.items():
                wh.write(df, "marts", table)
        yield pg


@contextmanager
def shifted(env: dict, table: str, update: str):
    """Apply ``update`` to ``marts.<table>`` for the duration (the table is restored after)."""
    from ingestion.warehouse import connect

    with connect(env) as wh:
        wh.execute(f"create table marts.{table}_kept as select * from marts.{table}")
        try:
            wh.execute(update)
            yield wh
        finally:
            wh.execute(f"drop table marts.{table}")
            wh.execute(f"alter table marts.{table}_kept rename to {table}")


def _newest(env: dict, table: str, column: str) -> date:
    from ingestion.warehouse import connect

    with connect(env) as wh:
        return pd.Timestamp(wh.rows(f"select max({column}) from marts.{table}")[0][0]).date()


def test_clean_latest_days_are_quiet(engine):
    from ingestion.warehouse import connect
    from ml.drift import check

    with connect(engine) as wh:
        results = [check(wh, m) for m in ("delivery_delay", "demand")]
        stored = wh.frame("select model, feature, drifted from ml.feature_drift")
    for r in results:
        assert r["retrain"] is False and r["drifted"] == [], r
        assert r["why"].startswith("no drift (closest to its limit:"), r
    assert len(stored) >= 11 + 2 and not stored["drifted"].astype(bool).any()


def _last_week(env: dict) -> str:
    newest = _newest(env, "fct_shipments", "shipped_date")
    return f"shipped_date > date '{newest}' - 7"


SHIFTS = {
    "a week of snow": (
        "fct_shipments",
        lambda env: (
            "update marts.fct_shipments set destination_weather_condition = 'snow' "
            f"where {_last_week(env)}"
        ),
        "delivery_delay",
        "is_snow",
    ),
    "carrier 4 -> 5": (
        "fct_shipments",
        lambda env: (
            f"update marts.fct_shipments set carrier_id = 5 where carrier_id = 4 and {_last_week(env)}"
        ),
        "delivery_delay",
        "carrier_id",
    ),
    "distance x1.25": (
        "fct_shipments",
        lambda env: (
            f"update marts.fct_shipments set distance_km = distance_km * 1.25 where {_last_week(env)}"
        ),
        "delivery_delay",
        "distance_km",
    ),
    "demand halved for two weeks": (
        "fct_order_lines",
        lambda env: (
            "update marts.fct_order_lines set order_status = 'cancelled' where "
            f"ordered_date > date '{_newest(env, 'fct_order_lines', 'ordered_date')}' - 14 "
            "and order_line_id % 2 = 0"
        ),
        "demand",
        "forecast_bias",
    ),
}


@pytest.mark.parametrize("shift", list(SHIFTS))
def test_each_shift_of_issue_20_is_flagged(engine, shift):
    from ml.drift import check

    table, update, model, feature = SHIFTS[shift]
    with shifted(engine, table, update(engine)) as wh:
        result = check(wh, model)
    print(shift, result["why"])
    assert result["retrain"] is True and feature in result["drifted"], result
    assert result["why"].startswith(f"drift in {feature}") or f"; {feature} " in result["why"]


def test_months_of_clean_daily_checks_raise_at_most_one_alarm_per_60(champions):
    """Every day from day 35 checked as ml_retrain would (weekly champion): clean data stays
    quiet; the shifts applied on each Monday's latest window are flagged every time."""
    from benchmarks.ml_drift import delay_checks, demand_checks
    from ingestion.warehouse import connect
    from ml import delay, demand

    with connect() as wh:
        frame, units = delay.features(wh), demand.daily_units(wh)
    for tally in (delay_checks(frame), demand_checks(units)):
        print(tally.checks, tally.alarms, tally.alarm_days, tally.shifts)
        assert tally.checks >= 80
        assert tally.alarms <= tally.checks / 60, tally.alarm_days
        for name, flags in tally.shifts.items():
            assert all(flags), (name, flags)
