"""Quality and ML on Spark and Snowflake, through the engine registry, with DuckDB's answers.

One warehouse is built on DuckDB (generated data, loaded, the marts the models read built by
dbt) and champions of both models are trained there. Its bronze, marts and quality tables are
then copied, types kept (through Arrow), into a local Spark warehouse, and the same code runs on
both engines: the bronze and mart gates (GX on batches read through the engine), the anomaly
monitors, the marts' freshness lags, both models' scores and the drift checks. Every answer must
match DuckDB's.

Snowflake runs on fakesnow (an in-process stand-in on DuckDB; the service is out of reach): the
models' scores and drift checks match DuckDB's there too. fakesnow binds a date parameter as text,
so the anomaly monitors (which bind their window's dates) are not compared on it.
"""

from __future__ import annotations

import os
from datetime import date

import pandas as pd
import pytest

from platform_core.dbt_runner import _environment  # set, then restore, os.environ
from tests.ml_support import gate, ml_warehouse

pytestmark = pytest.mark.slow

DAY = date(2026, 4, 29)
COPIED = ("bronze", "marts", "quality")


def _answers(wh) -> dict:
    """What quality and ML compute on the warehouse ``wh``."""
    from ml import delay, demand, drift
    from quality.anomalies import detect
    from quality.freshness import mart_lags

    out: dict = {"target": wh.target}
    out["delay"] = delay.score(wh, day=DAY)
    out["risk"] = wh.frame(
        "select shipment_id, late_probability from ml.delivery_risk_scores order by shipment_id"
    )
    out["demand"] = demand.score(wh, day=DAY)
    out["forecast"] = wh.frame(
        "select category, forecast_date, forecast_units from ml.demand_forecast "
        "order by category, forecast_date"
    )
    out["drift"] = {m: drift.check(wh, m) for m in ("delivery_delay", "demand")}
    out["lags"] = mart_lags(wh)
    out["anomalies"] = sorted(
        (s.family, s.metric, s.dimension or "", s.segment or "", s.status, s.value, s.z)
        for s in detect(wh, DAY)
    )
    return out


def _gates() -> dict:
    from quality.tasks import check_layer

    return {layer: check_layer(layer) for layer in ("bronze", "marts")}


@pytest.fixture(scope="module")
def duck(tmp_path_factory):
    """The DuckDB warehouse, its champions, its answers and copies of its tables (Arrow)."""
    from ingestion.warehouse import connect
    from ml import delay, demand

    work = tmp_path_factory.mktemp("engines")
    warehouse = ml_warehouse(work)
    next(warehouse)
    try:
        gate(True)
        with connect() as wh:
            delay.promote(wh, delay.train(wh)["version"])
            demand.promote(wh, demand.train(wh)["version"])
            tables = wh.rows(
                "select table_schema, table_name from information_schema.tables "
                f"where table_schema in {COPIED}"
            )
            copies = {
                t: wh._con.sql(f'select * from "{t[0]}"."{t[1]}"').to_arrow_table() for t in tables
            }
            answers = _answers(wh)
        answers["gates"] = _gates()
        yield {"work": work, "copies": copies, "answers": answers}
    finally:
        next(warehouse, None)


@pytest.fixture(scope="module")
def engines(duck):
    pytest.importorskip("pyspark")
    from ingestion.warehouse import connect

    work = duck["work"]
    spark = {
        "WAREHOUSE_TARGET": "spark",
        "SPARK_WAREHOUSE_DIR": str(work / "spark" / "warehouse"),
        "SPARK_METASTORE_DIR": str(work / "spark" / "metastore"),
        "SPARK_SHUFFLE_PARTITIONS": "1",
    }
    with _environment(spark):
        wh = connect()
        try:
            for (schema, table), rows in duck["copies"].items():
                wh.spark.sql(f"create database if not exists {schema}")
                wh.spark.createDataFrame(rows).write.format("parquet").saveAsTable(
                    f"{schema}.{table}"
                )
            on_spark = _answers(wh)
            on_spark["gates"] = _gates()
            yield {
                "duckdb": duck["answers"],
                "spark": on_spark,
                "wh": wh,
                "tables": len(duck["copies"]),
            }
        finally:
            wh.spark.stop()


@pytest.mark.spark
def test_the_registry_gives_a_spark_warehouse(engines):
    from ingestion.backends import ENGINES, readers
    from platform_core.settings import TARGETS

    assert engines["spark"]["target"] == "spark" and engines["duckdb"]["target"] == "duckdb"
    assert set(ENGINES) == set(TARGETS)
    assert {"duckdb", "postgres", "spark"} <= set(readers())
    assert engines["tables"] >= 15  # bronze tables, the audit, rejects, marts, quality


@pytest.mark.spark
def test_the_champions_score_spark_marts_as_they_score_duckdb_marts(engines):
    duck, spark = engines["duckdb"], engines["spark"]
    assert spark["delay"]["rows"] == duck["delay"]["rows"] > 10_000
    assert spark["delay"]["model_version"] == duck["delay"]["model_version"]
    risk = duck["risk"].merge(spark["risk"], on="shipment_id", suffixes=("_duck", "_spark"))
    assert len(risk) == len(duck["risk"])
    diff = (risk.late_probability_duck - risk.late_probability_spark).abs().max()
    assert diff < 1e-9, f"late probabilities differ by up to {diff}"
    assert risk.late_probability_duck.nunique() > 100  # real scores, not a constant
    f_duck, f_spark = duck["forecast"], spark["forecast"]
    assert spark["demand"]["rows"] == duck["demand"]["rows"] == len(f_spark) > 0
    assert list(f_duck.category) == list(f_spark.category)
    assert (pd.to_datetime(f_duck.forecast_date) == pd.to_datetime(f_spark.forecast_date)).all()
    assert ((f_duck.forecast_units - f_spark.forecast_units).abs() < 1e-6).all()


@pytest.mark.spark
def test_drift_checks_give_the_same_verdicts_on_spark(engines):
    duck, spark = engines["duckdb"]["drift"], engines["spark"]["drift"]
    for model in ("delivery_delay", "demand"):
        assert spark[model] == duck[model], model
        assert "version" in spark[model]  # a champion was compared, not "no champion yet"
    stored = engines["wh"].frame("select model, feature, value from ml.feature_drift")
    assert set(stored.model) == {"delivery_delay", "demand"} and stored.value.notna().any()


@pytest.mark.spark
def test_anomaly_monitors_score_the_same_day_the_same_on_spark(engines):
    duck, spark = engines["duckdb"]["anomalies"], engines["spark"]["anomalies"]
    assert len(spark) == len(duck) > 20
    for a, b in zip(duck, spark, strict=True):
        assert a[:5] == b[:5]
        for x, y in zip(a[5:], b[5:], strict=True):
            assert (x is None and y is None) or abs(x - y) < 1e-6, (a, b)
    assert sum(s[4] == "ok" and s[6] is not None for s in spark) > 10  # scored, not skipped


@pytest.mark.spark
def test_mart_freshness_lags_are_the_same_on_spark(engines):
    from quality.settings import config

    duck, spark = engines["duckdb"]["lags"], engines["spark"]["lags"]
    assert [f.name for f in duck] == list(config().freshness.marts)
    # the marts the models read are measured (a newest date, a lag in days); the others are
    # not built in this warehouse and are reported missing, as errors, on both engines
    measured = {f.name for f in duck if f.lag is not None and f.newest is not None}
    assert {"fct_order_lines", "fct_shipments"} <= measured, duck
    assert all(f.status == "error" for f in duck if f.name not in measured), duck
    assert spark == duck


@pytest.mark.spark
def test_the_bronze_and_mart_gates_run_on_spark_with_duckdbs_verdicts(engines):
    duck, spark = engines["duckdb"]["gates"], engines["spark"]["gates"]
    for layer in ("bronze", "marts"):
        for key in ("suites", "expectations", "errors", "warnings", "failed"):
            assert spark[layer][key] == duck[layer][key], (layer, key)
    assert spark["bronze"]["expectations"] > 100
    written = engines["wh"].frame(
        "select layer, count(*) as n from quality.check_results group by layer"
    )
    assert set(written.layer) >= {"bronze", "marts"}


def _slices(wh) -> list[tuple]:
    """``write`` with ``replace_where`` leaves one copy of the slice, an empty frame removes it,
    ``replace`` starts over: the rows left, read back with a bound value."""

    def day(d, n):
        return pd.DataFrame({"id": range(n), "v": [1.5] * n, "d": [date(2026, 1, d)] * n})

    wh.write(day(1, 3), "scratch", "slices", replace=True, replace_where=("d", date(2026, 1, 1)))
    wh.write(day(2, 2), "scratch", "slices", replace_where=("d", date(2026, 1, 2)))
    wh.write(day(2, 4), "scratch", "slices", replace_where=("d", date(2026, 1, 2)))
    wh.write(day(1, 0), "scratch", "slices", replace_where=("d", date(2026, 1, 1)))
    assert wh.table_exists("scratch", "slices") and not wh.table_exists("scratch", "nope")
    assert set(wh.columns("scratch", "slices")) == {"id", "v", "d"}
    got = wh.frame(
        f"select id, v, cast(d as date) as d from scratch.slices where id >= {wh.mark} "
        "order by d, id",
        [1],
    )
    return [(int(r.id), float(r.v), pd.Timestamp(r.d).date()) for r in got.itertuples()]


@pytest.mark.spark
def test_a_spark_write_replaces_one_slice_like_duckdb(engines, tmp_path):
    from ingestion.backends.duckdb import DuckDBWarehouse
    from ingestion.config import Settings

    duck = DuckDBWarehouse(Settings.from_env({"DUCKDB_PATH": str(tmp_path / "s.duckdb")}))
    with duck:
        expected = _slices(duck)
    assert expected == [(i, 1.5, date(2026, 1, 2)) for i in (1, 2, 3)]
    assert _slices(engines["wh"]) == expected


def _replaced_by_parts(wh, schema: str) -> list[int]:
    """``replace_by_parts``: a part that fails leaves the old table as it was; parts (one of
    them empty) then replace it, and no staged table is left. The ids left, read back."""

    def part(first: int, n: int) -> pd.DataFrame:
        return pd.DataFrame({"id": range(first, first + n), "v": [2.5] * n})

    def ids() -> list[int]:
        return [int(i) for i in wh.frame(f"select id from {schema}.parted order by id").id]

    wh.write(part(100, 2), schema, "parted", replace=True)

    def failing():
        yield part(0, 3)
        raise RuntimeError("the second part failed")

    with pytest.raises(RuntimeError, match="the second part failed"):
        wh.replace_by_parts(failing(), schema, "parted")
    assert ids() == [100, 101]
    with pytest.raises(ValueError, match="no rows to replace"):
        wh.replace_by_parts(iter([]), schema, "parted")
    assert ids() == [100, 101]
    assert wh.replace_by_parts(iter([part(0, 3), part(3, 0), part(3, 2)]), schema, "parted") == 5
    assert not wh.table_exists(schema, "parted__staged")
    assert wh.columns(schema, "parted") == ["id", "v"]
    return ids()


def test_a_table_replaced_by_parts_keeps_its_old_rows_until_every_part_is_written(warehouse):
    from ingestion.warehouse import connect

    with connect(warehouse.env) as wh:
        assert _replaced_by_parts(wh, warehouse.schema) == [0, 1, 2, 3, 4]


@pytest.mark.spark
def test_a_spark_table_replaced_by_parts_keeps_its_old_rows_until_every_part_is_written(engines):
    engines["wh"].spark.sql("create database if not exists scratch")
    assert _replaced_by_parts(engines["wh"], "scratch") == [0, 1, 2, 3, 4]


def test_an_engine_without_a_warehouse_says_which_have_one():
    from ingestion.backends import engine
    from ingestion.config import Settings

    with pytest.raises(
        NotImplementedError, match="not built for WAREHOUSE_TARGET='bigquery'"
    ) as err:
        engine("bigquery").warehouse(Settings.from_env({"WAREHOUSE_TARGET": "bigquery"}))
    named = str(err.value).split("engines with it: ")[1].rstrip(")").split(", ")
    assert set(named) == {"duckdb", "postgres", "spark", "snowflake", "databricks"}
    with pytest.raises(ValueError, match="unknown warehouse target 'oracle'"):
        engine("oracle")


# --------------------------------------------------------------------------- Snowflake (fakesnow)
def _floats(table) -> pd.DataFrame:
    """A copied table as pandas, decimals as floats (fakesnow's write_pandas guesses a decimal
    column's precision from its first values and then refuses wider ones)."""
    import decimal

    frame = table.to_pandas()
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, decimal.Decimal)).any():
            frame[column] = frame[column].astype("float64")
    return frame


@pytest.fixture(scope="module")
def snowflake(duck):
    pytest.importorskip("snowflake.connector")
    fakesnow = pytest.importorskip("fakesnow")
    from ingestion.backends.snowflake import SnowflakeWarehouse
    from ingestion.config import Settings
    from ml import delay, demand, drift
    from tests.conftest import SNOWFLAKE_ENV

    needed = {
        ("marts", t) for t in ("fct_shipments", "fct_orders", "fct_order_lines", "dim_product")
    }
    with fakesnow.patch():
        wh = SnowflakeWarehouse(Settings.from_env({**os.environ, **SNOWFLAKE_ENV}))
        for (schema, table), rows in duck["copies"].items():
            if (schema, table) in needed or schema == "quality":
                wh.write(_floats(rows), schema, table, replace=True)
        answers = {
            "delay": delay.score(wh, day=DAY),
            "risk": wh.frame(
                "select shipment_id, late_probability from ml.delivery_risk_scores "
                "order by shipment_id"
            ),
            "demand": demand.score(wh, day=DAY),
            "drift": {m: drift.check(wh, m) for m in ("delivery_delay", "demand")},
        }
        yield {"wh": wh, "answers": answers}
        wh.close()


def test_the_champions_score_and_drift_checks_run_on_snowflake_with_duckdbs_answers(
    duck, snowflake
):
    want, got = duck["answers"], snowflake["answers"]
    assert got["delay"]["rows"] == want["delay"]["rows"] > 10_000
    risk = want["risk"].merge(got["risk"], on="shipment_id", suffixes=("_duck", "_snow"))
    assert len(risk) == len(want["risk"])
    assert (risk.late_probability_duck - risk.late_probability_snow).abs().max() < 1e-9
    assert got["demand"]["rows"] == want["demand"]["rows"] > 0
    for model in ("delivery_delay", "demand"):
        assert got["drift"][model] == want["drift"][model], model


def test_a_snowflake_write_replaces_one_slice_like_duckdb(snowflake, tmp_path):
    from ingestion.backends.duckdb import DuckDBWarehouse
    from ingestion.config import Settings

    duck = DuckDBWarehouse(Settings.from_env({"DUCKDB_PATH": str(tmp_path / "s.duckdb")}))
    with duck:
        expected = _slices(duck)
    assert expected == [(i, 1.5, date(2026, 1, 2)) for i in (1, 2, 3)]
    assert _slices(snowflake["wh"]) == expected
