"""Quality and ML on Databricks through the engine registry, up to the wire.

No Databricks workspace is reachable from here. ``tests/databricks_support.py`` puts a recording
SQL warehouse at the far end of the connector's HTTP transport, so everything on this side is the
production code and the real databricks-sql-connector (connect, cursor, native parameters,
Thrift): what it records is what Databricks would receive. The tests check the statements the
``DatabricksWarehouse`` sends (each parsed as Databricks SQL by sqlglot), that values only ever
travel as bound parameters, how Arrow results become frames, and that the anomaly monitors and
the mart freshness lags run through it. What they cannot check: that Databricks accepts and
executes those statements as intended (``insert ... replace where``'s slice check, Unity
Catalog's ``information_schema``).
"""

from __future__ import annotations

import decimal
from datetime import date, datetime

import pandas as pd
import pyarrow as pa
import pytest
import sqlglot

from tests.databricks_support import SqlWarehouse, on_the_wire

pytest.importorskip("databricks.sql")

ENV = {
    "WAREHOUSE_TARGET": "databricks",
    "DATABRICKS_HOST": "https://adb-1234.5.azuredatabricks.net/",
    "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/abc",
    "DATABRICKS_TOKEN": "dapi-not-a-secret",
    "DATABRICKS_CATALOG": "main",
}
HOSTILE = ("it's", "'; drop table x; --", 'say "hi"', "back\\slash", "?", ":name")


def _warehouse(env=ENV):
    from ingestion.backends import engine
    from ingestion.config import Settings

    return engine("databricks").warehouse(Settings.from_env(env))


def _parsed(server: SqlWarehouse) -> list[sqlglot.Expression]:
    """Every statement the warehouse received, parsed as Databricks SQL (raises if one is not)."""
    return [
        sqlglot.parse_one(s.sql, read="databricks", error_level=sqlglot.ErrorLevel.RAISE)
        for s in server.statements
    ]


def _no_value_in_sql(server: SqlWarehouse, values) -> None:
    for s in server.statements:
        for value in values:
            assert value not in s.sql, (value, s.sql)


def _catalog(tables: dict[tuple[str, str], list[str]]):
    """Answers of ``information_schema`` for these tables (schema, name) -> columns."""

    def answer(sql: str, params):
        if sql.startswith("SELECT COUNT(*) AS n FROM information_schema.tables"):
            found = (params[0][1], params[1][1]) in tables
            return pa.table({"n": pa.array([int(found)], pa.int64())})
        if sql.startswith("SELECT column_name FROM information_schema.columns"):
            names = tables.get((params[0][1], params[1][1]), [])
            return pa.table({"column_name": pa.array(names, pa.string())})
        return None

    return answer


# --------------------------------------------------------------------------- connecting, reading
def test_the_registry_connects_with_the_loaders_settings_in_the_configured_catalog():
    from ingestion.backends.databricks import DatabricksWarehouse

    with on_the_wire(lambda sql, params: None) as server:
        wh = _warehouse()
        assert isinstance(wh, DatabricksWarehouse) and wh.mark == "?"
        wh.close()
    assert server.urls == ["https://adb-1234.5.azuredatabricks.net:443/sql/1.0/warehouses/abc"]
    assert server.sessions[0].initialNamespace.catalogName == "main"
    assert {h["Authorization"] for h in server.headers} == {"Bearer dapi-not-a-secret"}
    assert server.closed_sessions == 1


def test_a_catalog_that_is_not_a_plain_name_is_refused_before_connecting():
    refused = pytest.raises(ValueError, match="DATABRICKS_CATALOG must be a plain identifier")
    with on_the_wire(lambda sql, params: None) as server, refused:
        _warehouse({**ENV, "DATABRICKS_CATALOG": "main; drop"})
    assert server.sessions == []


def test_frame_sends_databricks_sql_with_the_values_bound_and_reads_the_arrow_result():
    result = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "amount": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(10, 2)),
            "at": pa.array([datetime(2026, 1, 1, 3), None], pa.timestamp("us", tz="Etc/UTC")),
            "day": pa.array([date(2026, 1, 1), None], pa.date32()),
            "label": pa.array(["a", None], pa.string()),
        }
    )
    with on_the_wire(lambda sql, params: result) as server, _warehouse() as wh:
        df = wh.frame(
            "select id, amount, at, day, label from marts.x "
            "where label in (?, ?, ?, ?, ?, ?) and day >= ? and id > ? and w = ? "
            "and amount::double precision > ? and label::varchar <> ?",
            [*HOSTILE, date(2026, 1, 1), 0, 1.5, 0.5, None],
        )
        rows = wh.rows("select id, amount, at from marts.x")
    _parsed(server)
    _no_value_in_sql(server, HOSTILE[:4])
    [sent, read] = server.statements
    # the packages' dialect translated: ``::`` casts, ``double precision``, ``varchar``
    assert "CAST(amount AS DOUBLE) > ?" in sent.sql and "CAST(label AS STRING)" in sent.sql
    assert sent.sql.count("?") == 11
    assert sent.params == [
        *(("STRING", v) for v in HOSTILE),
        ("DATE", "2026-01-01"),
        ("INT", "0"),
        ("DOUBLE", "1.5"),
        ("DOUBLE", "0.5"),
        ("VOID", None),
    ]
    assert read.params == []
    # decimals as floats, zoned times as the session zone's wall clock (as DuckDB's frames)
    assert df.amount.dtype == "float64" and df.amount.iloc[0] == 1.5 and pd.isna(df.amount[1])
    assert df["at"].dtype.kind == "M" and df["at"].dt.tz is None
    assert df["at"].iloc[0] == pd.Timestamp("2026-01-01 03:00")
    assert list(df.columns) == ["id", "amount", "at", "day", "label"]
    assert rows[0][2] == datetime(2026, 1, 1, 3) and rows[0][2].tzinfo is None


def test_table_exists_and_columns_ask_the_catalogs_information_schema():
    tables = {("scratch", "slices"): ["id", "v", "d"]}
    with on_the_wire(_catalog(tables)) as server, _warehouse() as wh:
        assert wh.table_exists("Scratch", "Slices")
        assert not wh.table_exists("scratch", "nope")
        assert wh.columns("scratch", "slices") == ["id", "v", "d"]
        assert wh.columns("scratch", "nope") == []
        assert not wh.table_exists("x'; drop table y; --", "t")
    _parsed(server)
    _no_value_in_sql(server, ["Scratch", "slices", "nope", "drop table y"])
    assert server.sql()[0] == (
        "SELECT COUNT(*) AS n FROM information_schema.tables "
        "WHERE table_schema = ? AND table_name = ?"
    )
    assert server.sql()[2] == (
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position NULLS LAST"
    )
    assert [s.params for s in server.statements[:2]] == [
        [("STRING", "scratch"), ("STRING", "slices")],  # Unity Catalog names are lower case
        [("STRING", "scratch"), ("STRING", "nope")],
    ]


# --------------------------------------------------------------------------- writing
def _scores(n: int) -> pd.DataFrame:
    """A result frame with every kind of column a package writes, hostile text and gaps."""
    return pd.DataFrame(
        {
            "id": range(n),
            "score": [0.25 if i % 3 else float("nan") for i in range(n)],
            "label": [HOSTILE[i % len(HOSTILE)] if i % 4 else None for i in range(n)],
            "flag": [i % 2 == 0 for i in range(n)],
            "scored_at": pd.to_datetime(["2026-01-02 03:04:05"] * n),
            "day": [date(2026, 1, 2)] * n,
        }
    )


def _stage(server: SqlWarehouse) -> str:
    [create] = [s for s in server.sql() if s.startswith("CREATE TABLE ml._write_")]
    return create.split()[2]


def test_write_with_replace_where_stages_the_rows_then_replaces_the_slice_in_one_commit():
    frame = _scores(40)  # 6 columns: 42 rows fit in a statement's 255 markers, so two inserts
    existing = {("ml", "scores"): list(frame.columns)}
    with on_the_wire(_catalog(existing)) as server, _warehouse() as wh:
        written = wh.write(frame, "ml", "scores", replace_where=("day", date(2026, 1, 2)))
    assert written == 40
    _parsed(server)
    _no_value_in_sql(server, HOSTILE[:4])
    stage = _stage(server)
    columns = "id, score, label, flag, scored_at, day"
    assert server.sql() == [
        "CREATE SCHEMA IF NOT EXISTS ml",
        "SELECT COUNT(*) AS n FROM information_schema.tables "
        "WHERE table_schema = ? AND table_name = ?",
        f"CREATE TABLE {stage} (id BIGINT, score DOUBLE, label STRING, flag BOOLEAN, "
        "scored_at TIMESTAMP_NTZ, day DATE) USING DELTA",
        f"INSERT INTO {stage} ({columns}) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * 40),
        f"INSERT INTO ml.scores REPLACE WHERE day = ? SELECT {columns} FROM {stage}",
        f"DROP TABLE IF EXISTS {stage}",
    ]
    inserted = server.statements[3].params
    assert len(inserted) == 40 * 6 <= 255
    assert server.statements[4].params == [("DATE", "2026-01-02")]
    # the values sent, row by row, are the frame's: NaN and None as NULL, naive times as NTZ
    sent = [inserted[i : i + 6] for i in range(0, len(inserted), 6)]
    for (_, row), values in zip(frame.iterrows(), sent, strict=True):
        assert values[0] == ("INT", str(row.id))
        assert values[1] == (("VOID", None) if pd.isna(row.score) else ("DOUBLE", "0.25"))
        assert values[2] == (("VOID", None) if row.label is None else ("STRING", row.label))
        assert values[3] == ("BOOLEAN", str(row.flag))
        assert values[4] == ("TIMESTAMP_NTZ", "2026-01-02 03:04:05")
        assert values[5] == ("DATE", "2026-01-02")


def test_a_large_write_is_split_within_the_parameter_limits_of_a_statement():
    frame = _scores(100)  # 42 rows of 6 values a statement
    with on_the_wire(_catalog({})) as server, _warehouse() as wh:
        assert wh.write(frame, "ml", "scores") == 100
    inserts = [s for s in server.statements if s.sql.startswith("INSERT INTO ml._write_")]
    assert [len(s.params) // 6 for s in inserts] == [42, 42, 16]
    assert all(s.sql.count("?") == len(s.params) <= 255 for s in inserts)


def test_a_new_table_or_replace_is_one_create_or_replace_from_the_stage():
    with on_the_wire(_catalog({("ml", "scores"): ["id"]})) as server, _warehouse() as wh:
        wh.write(_scores(3), "ml", "scores", replace=True)
        wh.write(_scores(0), "ml", "fresh")  # a new table, even when empty
    _parsed(server)
    sql = server.sql()
    replaced, created = [s for s in sql if s.startswith("CREATE OR REPLACE TABLE")]
    assert replaced.startswith("CREATE OR REPLACE TABLE ml.scores USING DELTA AS SELECT id, ")
    assert created.startswith("CREATE OR REPLACE TABLE ml.fresh USING DELTA AS SELECT id, ")
    # replace needs no look at the catalog; the new table did look, and found nothing
    assert sum("information_schema" in s for s in sql) == 1
    assert not any(s.startswith("INSERT INTO ml.fresh") for s in sql)
    assert sum(s.startswith("DROP TABLE IF EXISTS ml._write_") for s in sql) == 2


def test_a_table_replaced_by_parts_is_one_delta_replace_from_the_staged_parts():
    tables = {("ml", "scores"): ["id"], ("ml", "scores__staged"): ["id"]}  # after the first part
    with on_the_wire(_catalog(tables)) as server, _warehouse() as wh:
        parts = iter([_scores(2), _scores(0), _scores(3)])
        assert wh.replace_by_parts(parts, "ml", "scores") == 5
    _parsed(server)
    sql = server.sql()
    # the first part replaces the staged table, the others are appended to it
    made = [s for s in sql if s.startswith("CREATE OR REPLACE TABLE ml.scores__staged ")]
    assert len(made) == 1 and sql.index(made[0]) < min(
        i for i, s in enumerate(sql) if s.startswith("INSERT INTO ml.scores__staged (")
    )
    assert sum(s.startswith("INSERT INTO ml.scores__staged (") for s in sql) == 2
    assert sql[-2:] == [
        "CREATE OR REPLACE TABLE ml.scores USING DELTA AS SELECT * FROM ml.scores__staged",
        "DROP TABLE IF EXISTS ml.scores__staged",
    ]
    assert not any(s.startswith(("DROP TABLE IF EXISTS ml.scores ", "ALTER")) for s in sql)


def test_a_plain_append_to_an_existing_table_inserts_from_the_stage():
    with on_the_wire(_catalog({("ml", "scores"): ["id"]})) as server, _warehouse() as wh:
        wh.write(_scores(2), "ml", "scores")
    stage = _stage(server)
    assert server.sql()[-2] == (
        f"INSERT INTO ml.scores (id, score, label, flag, scored_at, day) "
        f"SELECT id, score, label, flag, scored_at, day FROM {stage}"
    )


def test_a_refused_slice_raises_the_servers_error_and_still_drops_the_stage():
    from databricks.sql.exc import ServerOperationError

    catalog = _catalog({("ml", "scores"): ["id"]})

    def answer(sql, params):
        if sql.startswith("INSERT INTO ml.scores REPLACE WHERE"):
            return RuntimeError("[DELTA_REPLACE_WHERE_MISMATCH] Written data does not conform")
        return catalog(sql, params)

    refused = pytest.raises(ServerOperationError, match="DELTA_REPLACE_WHERE_MISMATCH")
    with on_the_wire(answer) as server, _warehouse() as wh, refused:
        wh.write(_scores(2), "ml", "scores", replace_where=("day", date(2026, 1, 1)))
    assert server.sql()[-1] == f"DROP TABLE IF EXISTS {_stage(server)}"


def test_names_that_are_not_plain_identifiers_never_reach_the_server():
    with on_the_wire(_catalog({})) as server, _warehouse() as wh:
        for schema, table, column in [
            ("ml; drop", "t", "id"),
            ("ml", "t x", "id"),
            ("ml", "t", "id) values (1); --"),
        ]:
            with pytest.raises(ValueError, match="is not a plain SQL identifier"):
                wh.write(pd.DataFrame({column: [1]}), schema, table)
        with pytest.raises(ValueError, match="is not a plain SQL identifier"):
            wh.write(_scores(1), "ml", "t", replace_where=("day = day or 1 = 1", 1))
    assert server.statements == []


# --------------------------------------------------------------------------- the packages on it
def _daily(sql: str, params) -> pa.Table | None:
    """Canned answers of a SQL warehouse holding bronze.orders and the orders mart."""
    if sql.startswith("SELECT COUNT(*) AS n FROM information_schema.tables"):
        return pa.table({"n": pa.array([1], pa.int64())})
    days = pa.array([date(2026, 1, d) for d in (1, 2, 3)], pa.date32())
    if "FROM bronze.orders" in sql and "BETWEEN ? AND ?" in sql:  # new order keys a file day
        n = pa.array([9, 8, 7], pa.int64())
        segment = pa.nulls(3, pa.string())
        return pa.table({"day": days, "segment": segment, "n": n, "num": n, "den": n, "sq": n})
    if "marts.fct_orders" in sql and "BETWEEN ? AND ?" in sql:  # the orders metric's days
        segment = (
            pa.array(["web", "web", "store"]) if "fact.channel" in sql else pa.nulls(3, pa.string())
        )
        n = pa.array([10, 12, 11], pa.int64())
        return pa.table({"day": days, "segment": segment, "n": n, "num": n, "den": n, "sq": n})
    if sql.startswith("SELECT MAX(CAST(LEFT(RIGHT(_source_file, 14), 10) AS DATE))"):
        return pa.table({"newest": pa.array([date(2026, 1, 5)], pa.date32())})
    if sql.startswith("SELECT MAX("):
        return pa.table({"newest": pa.array([date(2026, 1, 3)], pa.date32())})
    raise AssertionError(f"unexpected statement: {sql}")


def test_the_anomaly_monitors_read_their_daily_series_through_the_databricks_warehouse():
    from quality.monitors.metrics import load_series

    start, end = date(2026, 1, 1), date(2026, 1, 3)
    wanted = {"orders": {None, "channel"}, "rows_orders": {None}}
    with on_the_wire(_daily) as server, _warehouse() as wh:
        series = load_series(wh, wanted, start, end)
    _parsed(server)
    reads = [s for s in server.statements if "BETWEEN ? AND ?" in s.sql]
    assert len(reads) == 3
    assert all(s.params == [("DATE", "2026-01-01"), ("DATE", "2026-01-03")] for s in reads)
    [total] = series[("orders", None)]
    assert total.value == {date(2026, 1, d): v for d, v in ((1, 10.0), (2, 12.0), (3, 11.0))}
    assert {s.segment for s in series[("orders", "channel")]} == {"web", "store"}
    [new_rows] = series[("rows_orders", None)]
    assert new_rows.volume == {date(2026, 1, d): n for d, n in ((1, 9), (2, 8), (3, 7))}


def test_the_mart_freshness_lags_run_through_the_databricks_warehouse():
    from quality.freshness import mart_lags
    from quality.settings import config

    with on_the_wire(_daily) as server, _warehouse() as wh:
        lags = mart_lags(wh)
    _parsed(server)
    slas = config().freshness.marts
    assert [f.name for f in lags] == list(slas)
    lag = 2  # newest batch day 2026-01-05, every mart's newest date 2026-01-03
    for f in lags:
        sla = slas[f.name]
        want = (
            "error"
            if lag > sla.error_after_days
            else "warn"
            if lag > sla.warn_after_days
            else "pass"
        )
        assert (f.newest, f.lag, f.status) == ("2026-01-03", float(lag), want)
