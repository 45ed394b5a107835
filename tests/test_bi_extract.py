"""``python -m bi extract``: Tableau extracts of the marts, from DuckDB and PostgreSQL.

The committed sample is loaded by the production loader and the dbt project built on it, once
per engine and module (DuckDB file in a temporary folder; a fresh PostgreSQL database, dropped at
the end). The command runs as a user runs it (a subprocess); every ``.hyper`` file is then
reopened with the Hyper API and compared with the warehouse's own figures: rows, the sum of every
numeric column to the last digit, each column's type. The incremental refresh is tested on a
copy of each warehouse whose fact rows the test changes directly, one day at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.landing import discover
from ingestion.loader import load_files
from tests.dbt_support import run_dbt

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SCHEMAS = ("marts", "metrics")
NUMERIC = ("bigint", "integer", "smallint", "numeric", "decimal", "double", "real")


# --------------------------------------------------------------------------- warehouses
@dataclass
class Marts:
    """A warehouse with the sample's marts built, and how to reach it."""

    engine: str
    env: dict[str, str]
    work: Path
    query: Callable[[str], list[tuple]]

    @property
    def manifest(self) -> Path:
        return self.work / "target" / "manifest.json"


def _dbt_build(work: Path, env: dict[str, str]) -> None:
    # the models; the project's own tests are test_dbt_*'s business
    done = run_dbt(
        work,
        env,
        "build",
        "--exclude-resource-type",
        "test",
        "--exclude-resource-type",
        "unit_test",
    )
    assert done.returncode == 0, done.stdout[-6000:]


def _duckdb_query(path: Path) -> Callable[[str], list[tuple]]:
    import duckdb

    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(path)) as con:  # short-lived: one process per file
            return con.execute(sql).fetchall()

    return query


@pytest.fixture(scope="module")
def sample_landing(tmp_path_factory) -> Path:
    landing = tmp_path_factory.mktemp("bi_sample") / "landing"
    shutil.copytree(ROOT / "sample_data", landing)
    return landing


@pytest.fixture(scope="module")
def duckdb_marts(sample_landing, tmp_path_factory) -> Marts:
    from ingestion.backends.duckdb import DuckDBBackend

    work = tmp_path_factory.mktemp("bi_duckdb")
    path = work / "warehouse.duckdb"
    with DuckDBBackend(path) as backend:
        report = load_files(backend, discover(sample_landing))
    assert not report.failed
    env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(path)}
    _dbt_build(work, env)
    return Marts("duckdb", env, work, _duckdb_query(path))


@pytest.fixture(scope="module")
def postgres_marts(sample_landing, tmp_path_factory) -> Iterator[Marts]:
    """A fresh database with the sample's marts; dropped (with every schema) at the end."""
    import psycopg

    from ingestion.backends.postgres import PostgresBackend

    admin = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
    }
    name = f"bi_x{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"create database {name}")
    try:
        env = {
            "WAREHOUSE_TARGET": "postgres",
            "PGHOST": admin["host"],
            "PGPORT": admin["port"],
            "PGUSER": admin["user"],
            "PGDATABASE": name,
        }
        conninfo = PostgresBackend.conninfo(env)
        with PostgresBackend("bronze", conninfo) as backend:
            report = load_files(backend, discover(sample_landing))
        assert not report.failed
        work = tmp_path_factory.mktemp("bi_postgres")
        _dbt_build(work, env)

        def query(sql: str) -> list[tuple]:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                return conn.execute(sql).fetchall()

        yield Marts("postgres", env, work, query)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def marts(request) -> Marts:
    return request.getfixturevalue(f"{request.param}_marts")


# --------------------------------------------------------------------------- helpers
def extract(marts: Marts, out: Path, *args: str, env: dict | None = None):
    """``python -m bi extract --out <out> <args>`` against the warehouse, as a user runs it."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WAREHOUSE_", "DUCKDB_", "PG", "BI_", "DBT_MANIFEST"))
    }
    environ.update(
        {
            **marts.env,
            "DBT_MANIFEST_PATH": str(marts.manifest),
            "PLATFORM_LOCAL_DIR": str(out.parent / "local"),
            **(env or {}),
        }
    )
    return subprocess.run(
        [PY, "-m", "bi", "extract", "--out", str(out), *args],
        env=environ,
        cwd=out.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def extract_ok(marts: Marts, out: Path, *args: str) -> dict:
    done = extract(marts, out, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "extracts.json").read_text())


def warehouse_tables(marts: Marts) -> dict[str, dict[str, tuple]]:
    """{table: {column: (data_type, precision, scale)}} of the marts and metrics schemas, from
    the warehouse's own catalog."""
    rows = marts.query(
        "select c.table_name, c.column_name, lower(c.data_type), c.numeric_precision, "
        "c.numeric_scale from information_schema.columns as c "
        "inner join information_schema.tables as t "
        "on t.table_schema = c.table_schema and t.table_name = c.table_name "
        "where c.table_schema in ('marts', 'metrics') and t.table_type = 'BASE TABLE' "
        "order by c.table_name, c.ordinal_position"
    )
    out: dict[str, dict[str, tuple]] = {}
    for table, column, data_type, precision, scale in rows:
        out.setdefault(table, {})[column] = (data_type, precision, scale)
    return out


def schema_of(marts: Marts, table: str) -> str:
    return marts.query(
        "select table_schema from information_schema.tables "
        f"where table_schema in ('marts', 'metrics') and table_name = '{table}'"
    )[0][0]


def numeric_columns(columns: dict[str, tuple]) -> list[str]:
    return [c for c, (t, _, _) in columns.items() if t.split("(")[0] in NUMERIC]


def warehouse_figures(marts: Marts, table: str, columns: list[str]) -> tuple:
    """(rows, {column: sum}) computed by the warehouse itself."""
    sums = "".join(f', sum("{c}")' for c in columns)
    row = marts.query(f'select count(*){sums} from {schema_of(marts, table)}."{table}"')[0]
    return int(row[0]), {
        c: (None if v is None else Decimal(v)) for c, v in zip(columns, row[1:], strict=True)
    }


@pytest.fixture(scope="module")
def hyper(tmp_path_factory):
    """A Hyper process of the test's own, to reopen the files."""
    from tableauhyperapi import HyperProcess, Telemetry

    logs = tmp_path_factory.mktemp("hyper_logs")
    with HyperProcess(
        telemetry=Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_dir": str(logs)}
    ) as process:
        yield process


def the_table(con):
    """The one table a Tableau extract holds."""
    tables = [t for s in con.catalog.get_schema_names() for t in con.catalog.get_table_names(s)]
    assert len(tables) == 1, tables
    return tables[0]


def hyper_query(hyper, path: Path, sql: str) -> list[list]:
    """``sql`` on the file's table (``{t}`` stands for it)."""
    from tableauhyperapi import Connection

    with Connection(hyper.endpoint, str(path)) as con:
        return con.execute_list_query(sql.format(t=the_table(con)))


def hyper_figures(hyper, path: Path, columns: list[str]) -> tuple:
    sums = "".join(f', sum(cast("{c}" as numeric(38, 10)))' for c in columns)
    row = hyper_query(hyper, path, f"select count(*){sums} from {{t}}")[0]
    return int(row[0]), {
        c: (None if v is None else Decimal(v)) for c, v in zip(columns, row[1:], strict=True)
    }


# --------------------------------------------------------------------------- every extract
@pytest.fixture(scope="module")
def extracted(marts, tmp_path_factory) -> tuple[Marts, Path, dict]:
    out = tmp_path_factory.mktemp(f"extracts_{marts.engine}") / "extracts"
    return marts, out, extract_ok(marts, out)


def test_every_mart_and_metrics_table_has_an_extract(extracted):
    marts, out, manifest = extracted
    tables = warehouse_tables(marts)
    assert {"dim_date", "dim_customer", "fct_order_lines", "metrics_sales_performance"} <= set(
        tables
    )
    assert set(manifest["extracts"]) == set(tables)
    assert sorted(p.stem for p in out.glob("*.hyper")) == sorted(tables)
    assert manifest["target"] == marts.engine
    assert not list(Path(out.parent).glob("hyperd*.log")) and not list(out.glob("*.log"))


def test_every_extract_reconciles_with_its_mart_to_the_cent(extracted, hyper):
    marts, out, manifest = extracted
    for table, columns in warehouse_tables(marts).items():
        measures = numeric_columns(columns)
        assert measures, table
        expected = warehouse_figures(marts, table, measures)
        assert expected[0] > 0, table
        assert hyper_figures(hyper, out / f"{table}.hyper", measures) == expected, table
        # the manifest says the same, as exact decimal strings
        entry = manifest["extracts"][table]
        assert entry["rows"] == expected[0], table
        assert set(entry["sums"]) == set(measures), table
        for column, value in expected[1].items():
            written = entry["sums"][column]
            assert (None if written is None else Decimal(written)) == value, (table, column)


def test_decimals_keep_their_scale_and_dates_stay_dates(extracted, hyper):
    from tableauhyperapi import Connection, SqlType

    marts, out, manifest = extracted
    plain = {
        "bigint": SqlType.big_int(),
        "integer": SqlType.int(),
        "date": SqlType.date(),
        "boolean": SqlType.bool(),
        "timestamp": SqlType.timestamp(),
        "timestamp without time zone": SqlType.timestamp(),
        "varchar": SqlType.text(),
        "text": SqlType.text(),
    }
    decimals = 0
    for table, columns in warehouse_tables(marts).items():
        with Connection(hyper.endpoint, str(out / f"{table}.hyper")) as con:
            found = {
                c.name.unescaped: c.type
                for c in con.catalog.get_table_definition(the_table(con)).columns
            }
        assert list(found) == list(columns), table  # every column, in order
        for column, (data_type, precision, scale) in columns.items():
            if data_type.startswith(("decimal", "numeric")):
                assert found[column] == SqlType.numeric(precision, scale), (table, column)
                decimals += 1
            else:
                assert found[column] == plain[data_type], (table, column, data_type)
        kinds = {c["name"]: c["hyper_type"] for c in manifest["extracts"][table]["columns"]}
        assert kinds == {name: str(kind) for name, kind in found.items()}
    assert decimals > 20
    # values too: a date reads back as the same date, a decimal with its cents
    first = marts.query("select min(ordered_date), max(net_revenue) from marts.fct_order_lines")[0]
    got = hyper_query(
        hyper,
        out / "fct_order_lines.hyper",
        'select min("ordered_date"), max("net_revenue") from {t}',
    )[0]
    assert got[0].to_date() == first[0] and isinstance(first[0], date)
    assert got[1] == first[1]


# --------------------------------------------------------------------------- incremental
def _per_day(hyper, path: Path) -> dict:
    rows = hyper_query(hyper, path, 'select "ordered_date", count(*) from {t} group by 1')
    return {d.to_date(): n for d, n in rows}


def _own_duckdb(marts: Marts, tmp_path: Path) -> Iterator[Marts]:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(marts.env["DUCKDB_PATH"], path)
    shutil.copytree(marts.work / "target", tmp_path / "target")
    yield Marts("duckdb", {**marts.env, "DUCKDB_PATH": str(path)}, tmp_path, _duckdb_query(path))


def _own_postgres(marts: Marts, tmp_path: Path) -> Iterator[Marts]:
    import psycopg

    admin = {
        k: marts.env[v] for k, v in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"))
    }
    name = f"bi_y{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        # the module's connections are short-lived: the database is free to be copied
        conn.execute(f"create database {name} template {marts.env['PGDATABASE']}")
    try:
        shutil.copytree(marts.work / "target", tmp_path / "target")

        def query(sql: str) -> list[tuple]:
            with psycopg.connect(dbname=name, autocommit=True, **admin) as conn:
                cur = conn.execute(sql)
                return cur.fetchall() if cur.description else []

        yield Marts("postgres", {**marts.env, "PGDATABASE": name}, tmp_path, query)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def own_marts(request, tmp_path) -> Iterator[Marts]:
    """A copy of the engine's marts this test may change."""
    marts = request.getfixturevalue(f"{request.param}_marts")
    copy = _own_duckdb if request.param == "duckdb" else _own_postgres
    yield from copy(marts, tmp_path)


def test_a_changed_day_is_replaced_in_place_and_the_rest_left_alone(own_marts, hyper, tmp_path):
    marts, out = own_marts, tmp_path / "extracts"
    first = extract_ok(marts, out)
    assert {e["mode"] for e in first["extracts"].values()} == {"full"}
    path = out / "fct_order_lines.hyper"
    inode = path.stat().st_ino
    measures = numeric_columns(warehouse_tables(marts)["fct_order_lines"])
    days = [
        d
        for (d,) in marts.query(
            "select distinct ordered_date from marts.fct_order_lines order by 1"
        )
    ]
    text_day, money_day = days[len(days) // 2], days[len(days) // 2 + 1]

    # 1. only a text value changes: rows and sums stay the same, the fingerprint does not
    line = marts.query(
        f"select min(order_line_id) from marts.fct_order_lines where ordered_date = '{text_day}'"
    )[0][0]
    marts.query(
        f"update marts.fct_order_lines set order_status = 'disputed' where order_line_id = {line}"
    )
    second = extract_ok(marts, out)
    entry = second["extracts"]["fct_order_lines"]
    assert (entry["mode"], entry["refreshed_days"]) == ("incremental", [text_day.isoformat()])
    assert path.stat().st_ino == inode  # the same file, not a rewrite
    status = hyper_query(
        hyper, path, f'select "order_status" from {{t}} where "order_line_id" = {line}'
    )
    assert status == [["disputed"]]
    others = {n: e["mode"] for n, e in second["extracts"].items() if n != "fct_order_lines"}
    assert set(others.values()) == {"unchanged"}, others

    # 2. a day loses rows and money: without a refresh the file no longer reconciles
    before = _per_day(hyper, path)
    marts.query(
        f"delete from marts.fct_order_lines where ordered_date = '{money_day}' "
        "and order_line_id % 3 = 0"
    )
    marts.query(
        "update marts.fct_order_lines set net_revenue = net_revenue + 0.01 "
        f"where ordered_date = '{money_day}'"
    )
    expected = warehouse_figures(marts, "fct_order_lines", measures)
    assert hyper_figures(hyper, path, measures) != expected
    third = extract_ok(marts, out)
    entry = third["extracts"]["fct_order_lines"]
    assert (entry["mode"], entry["refreshed_days"]) == ("incremental", [money_day.isoformat()])
    assert entry["rows_replaced"] == before[money_day]
    assert path.stat().st_ino == inode
    assert hyper_figures(hyper, path, measures) == expected
    after = _per_day(hyper, path)
    assert {d: n for d, n in after.items() if d != money_day} == {
        d: n for d, n in before.items() if d != money_day
    }
    assert after[money_day] < before[money_day]
    assert entry["rows"] == expected[0]

    # 3. --full rewrites every file (a new file replaces the old one)
    fourth = extract_ok(marts, out, "--full")
    assert {e["mode"] for e in fourth["extracts"].values()} == {"full"}
    assert path.stat().st_ino != inode
    assert hyper_figures(hyper, path, measures) == expected


def test_an_extract_changed_behind_the_manifest_is_rewritten(own_marts, hyper, tmp_path):
    marts, out = own_marts, tmp_path / "extracts"
    extract_ok(marts, out, "--tables", "fct_orders")
    measures = numeric_columns(warehouse_tables(marts)["fct_orders"])
    from tableauhyperapi import Connection

    with Connection(hyper.endpoint, str(out / "fct_orders.hyper")) as con:
        con.execute_command(f'delete from {the_table(con)} where "units" > 2')
    assert hyper_figures(hyper, out / "fct_orders.hyper", measures) != warehouse_figures(
        marts, "fct_orders", measures
    )
    manifest = extract_ok(marts, out, "--tables", "fct_orders")
    assert manifest["extracts"]["fct_orders"]["mode"] == "full"
    assert hyper_figures(hyper, out / "fct_orders.hyper", measures) == warehouse_figures(
        marts, "fct_orders", measures
    )


# --------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--tables", "no_such_mart"], {}, "unknown table 'no_such_mart'"),
        # the ML marts exist once a model scored (not in this build)
        (["--tables", "fct_delivery_risk"], {}, "not built in the warehouse"),
        (["--tables", 'fct_orders"; drop table marts.fct_orders; --'], {}, "unknown table"),
        ([], {"WAREHOUSE_TARGET": "spark"}, "not WAREHOUSE_TARGET='spark'"),
        ([], {"DUCKDB_PATH": "/nonexistent/w.duckdb"}, "no DuckDB warehouse at /nonexistent"),
    ],
)
def test_a_bad_invocation_fails_with_one_line(duckdb_marts, tmp_path, args, env, message):
    done = extract(duckdb_marts, tmp_path / "extracts", *args, env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not list((tmp_path / "extracts").glob("*.hyper"))
    assert duckdb_marts.query("select count(*) from marts.fct_orders")[0][0] > 0


# --------------------------------------------------------------------------- the DAG
RUN_DAG = r"""
import json, sys
from datetime import datetime, timezone
sys.path.insert(0, sys.argv[1])
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1] + "/bi_serving.py")
assert not bag.import_errors, bag.import_errors
run = bag.dags["bi_serving"].test(logical_date=datetime(2026, 1, 15, tzinfo=timezone.utc))
print("STATE=" + str(run.state))
"""


def test_bi_serving_dag_refreshes_the_extracts_and_publishes_the_asset(duckdb_marts, tmp_path):
    from orchestration.home import setup
    from tests.airflow_support import platform_env

    env = platform_env(
        tmp_path,
        DUCKDB_PATH=duckdb_marts.env["DUCKDB_PATH"],
        DBT_MANIFEST_PATH=str(duckdb_marts.manifest),
    )
    setup(env)
    done = subprocess.run(
        [PY, "-c", RUN_DAG, str(ROOT / "dags")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "STATE=success" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "local" / "bi" / "extracts"
    manifest = json.loads((out / "extracts.json").read_text())
    tables = warehouse_tables(duckdb_marts)
    assert set(manifest["extracts"]) == set(tables)
    with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as db:
        events = db.execute(
            "select e.extra from asset_event as e inner join asset as a on a.id = e.asset_id "
            "where a.name = 'bi_extracts'"
        ).fetchall()
    assert len(events) == 1
    extra = json.loads(events[0][0])
    assert extra["extracts"] == len(tables)
    assert extra["rows"] == sum(e["rows"] for e in manifest["extracts"].values())
    assert sorted(extra["full"]) == sorted(tables)
    assert extra["out"] == str(out)
