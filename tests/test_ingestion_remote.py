"""The Snowflake and Databricks backends, whose services cannot be reached from here.

What runs where:

- SQL: the statements both backends send (DDL of every bronze table, upload, ``copy into``,
  cleanup, inserts) are built without a connection and asserted exactly.
- Snowflake through fakesnow (an in-process Snowflake stand-in on DuckDB), for real round trips
  through the production code path, unchanged: ``create stage``, ``put`` of the gzip CSV to the
  internal stage, ``copy into`` from it (``purge`` included), the rejects and audit inserts
  between ``begin`` and ``commit``, the rollback when the copied row count is wrong, and the skip
  on re-load. The behavioural suite of ``test_ingestion.py`` runs against it too (its
  ``warehouse`` fixture has a ``snowflake`` parameter), so Snowflake meets the same expectations
  as DuckDB and PostgreSQL. What fakesnow could not cover:
  * Snowflake's own parser and options: fakesnow translates to DuckDB, so whether Snowflake
    accepts the exact ``put``/``copy into`` text is asserted textually only;
  * ``copy into <table> (<column list>) from @stage``: fakesnow 0.12.1 selects ``column0``,
    ``column1``, ... from the CSV, but DuckDB names the columns of a file with ten or more of
    them ``column00``, ``column01``, ..., so it fails with ``Binder Error: Referenced column
    "column0" not found in FROM clause! Candidate bindings: "column00", ...`` (13 of the 14
    bronze tables have ten columns or more). The backend therefore loads by position and
    writes the CSV in table order (``test_snowflake_csv_is_written_in_table_column_order``);
  * that ``put`` sits outside the transaction, Snowflake's load metadata, and concurrency.
- Databricks: no stand-in exists, so a small recording DB-API connection plays the SQL
  warehouse. It answers ``copy into`` with the row count of the Parquet file ``put`` uploaded:
  that checks the order of the statements, the uploaded file and the parameters sent, not
  Databricks itself. The retry cleanup's deletes run on DuckDB to check what they remove.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from datetime import date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SNOWFLAKE_ENV

from ingestion.backends import get_backend
from ingestion.backends.base import (
    AUDIT_COLUMNS,
    AUDIT_TABLE,
    META_COLUMNS,
    REJECT_COLUMNS,
    REJECTS_TABLE,
    AuditRow,
)
from ingestion.backends.databricks import DatabricksBackend, chunks
from ingestion.backends.databricks import connect_args as databricks_args
from ingestion.backends.databricks import rows_copied as databricks_rows_copied
from ingestion.backends.duckdb import DuckDBBackend
from ingestion.backends.snowflake import SnowflakeBackend, batches
from ingestion.backends.snowflake import connect_args as snowflake_args
from ingestion.backends.snowflake import rows_copied as snowflake_rows_copied
from ingestion.config import Settings
from ingestion.contracts import CONTRACTS, decimal_parts
from ingestion.landing import LandingFile, check_file
from ingestion.loader import load_files

PARSE_FAULTS = ("null_key", "unparseable_value", "wrong_field_count", "unclosed_quote")
DATABRICKS_ENV = {
    "WAREHOUSE_TARGET": "databricks",
    "DATABRICKS_HOST": "https://adb-1234.5.azuredatabricks.net/",
    "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/abc",
    "DATABRICKS_TOKEN": "dapi-not-a-secret",
}
BATCH = "20260102T030405Z-abc123"
AT = datetime(2026, 1, 2, 3, 4, 5, 600000)
# three good rows (a comma, doubled quotes, an empty quoted field, a backslash, \N as text)
# and one with a bad key
CARRIERS_CSV = (
    "carrier_id,carrier_name,service_level,updated_at\n"
    '1,"Acme, Inc.","",2026-01-01 00:00:00\n'
    '2,"Say ""hi""",,2026-01-01 00:00:00\n'
    'x,"broken","ground",2026-01-01 00:00:00\n'
    '4,"back\\slash","\\N",2026-01-01 00:00:00\n'
)


# --------------------------------------------------------------------------- helpers
def _tables(statements: list[str]) -> dict[str, list[tuple[str, str]]]:
    """The ``create table`` statements, as (column, type) pairs by table name."""
    out = {}
    for statement in statements:
        match = re.match(r"create table if not exists (\S+) \(\n(.*)\n\)", statement, re.S)
        if match:
            lines = match[2].splitlines()
            out[match[1]] = [tuple(ln.strip().rstrip(",").split(" ", 1)) for ln in lines]
    return out


def _contract_types(table: str, backend) -> list[tuple[str, str]]:
    """What the DDL should say for ``table``, from the contract and the engine's type map."""
    cols = [(c.name, c.type) for c in CONTRACTS[table].columns] + list(META_COLUMNS)
    out = []
    for name, type_ in cols:
        parts = decimal_parts(type_)
        sql = backend.decimal_template.format(p=parts[0], s=parts[1]) if parts else None
        out.append((name, sql or backend.types[type_]))
    return out


def _carriers_file(folder: Path, text: str = CARRIERS_CSV) -> LandingFile:
    path = folder / "carriers" / "2026-01-01.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return LandingFile("carriers", date(2026, 1, 1), path)


def _parse(backend, file: LandingFile):
    check, data = check_file(file.path, CONTRACTS[file.table])
    return backend.parse(file, check, data)


def _audit(parsed) -> AuditRow:
    return AuditRow(
        batch_id=BATCH,
        table_name=parsed.file.table,
        file_path=parsed.file.name,
        sha256=parsed.check.sha256,
        file_bytes=parsed.check.size,
        rows_read=parsed.rows_read,
        rows_loaded=parsed.rows_loaded,
        rows_rejected=parsed.rows_rejected,
        status="loaded",
        schema_drift=None,
        message=None,
        started_at=AT,
        finished_at=AT,
    )


def _faulty_lines(landing: Path) -> dict[str, set[int]]:
    """Lines of each file that the loader must reject, from the generator's fault log."""
    out: dict[str, set[int]] = {}
    for fault in json.loads((landing / "_faults.json").read_text())["faults"]:
        if fault["fault"] in PARSE_FAULTS:
            out.setdefault(fault["file"], set()).add(fault["line"])
    return out


# =========================================================================== Snowflake: SQL
def test_snowflake_ddl_creates_every_bronze_table_with_snowflake_types():
    backend = SnowflakeBackend(None)
    statements = backend.ddl()
    assert statements[0] == "create schema if not exists bronze"
    assert statements[-1] == "create stage if not exists bronze._ingest_stage"
    tables = _tables(statements)
    assert len(statements) == len(tables) + 2
    assert set(tables) == {f"bronze.{t}" for t in [*CONTRACTS, AUDIT_TABLE, REJECTS_TABLE]}
    for table in CONTRACTS:
        assert tables[f"bronze.{table}"] == _contract_types(table, backend), table
    assert dict(tables["bronze.order_lines"])["unit_price"] == "number(12,2)"
    assert dict(tables["bronze.facilities"])["capacity_units_per_day"] == "number(38,0)"
    assert tables["bronze._load_audit"][-2:] == [
        ("started_at", "timestamp_ntz"),
        ("finished_at", "timestamp_ntz"),
    ]
    assert next(s for s in statements if "bronze.carriers " in s) == (
        "create table if not exists bronze.carriers (\n"
        "    carrier_id number(38,0),\n"
        "    carrier_name varchar,\n"
        "    service_level varchar,\n"
        "    updated_at timestamp_ntz,\n"
        "    _batch_id varchar,\n"
        "    _source_file varchar,\n"
        "    _source_line number(38,0),\n"
        "    _loaded_at timestamp_ntz\n"
        ")"
    )


def test_snowflake_put_copy_remove_and_inserts_are_exact():
    backend = SnowflakeBackend(None, schema="bronze_x")
    staged = f"orders/orders-{BATCH}-0a1b2c3d.csv.gz"
    assert backend.put_sql(Path(f"/tmp/ingest-sf-1/orders-{BATCH}-0a1b2c3d.csv.gz"), "orders") == (
        f"put 'file:///tmp/ingest-sf-1/orders-{BATCH}-0a1b2c3d.csv.gz' "
        "@bronze_x._ingest_stage/orders/ "
        "auto_compress = false source_compression = gzip overwrite = true"
    )
    assert backend.copy_sql("orders", staged) == (
        f"copy into bronze_x.orders from @bronze_x._ingest_stage/{staged} "
        "file_format = (type = csv field_delimiter = ',' field_optionally_enclosed_by = '\"' "
        "escape_unenclosed_field = none null_if = () empty_field_as_null = true "
        "compression = gzip) on_error = abort_statement purge = true"
    )
    assert backend.remove_sql(staged) == f"remove @bronze_x._ingest_stage/{staged}"
    assert backend.insert_sql(AUDIT_TABLE, AUDIT_COLUMNS) == (
        "insert into bronze_x._load_audit (batch_id, table_name, file_path, sha256, file_bytes, "
        "rows_read, rows_loaded, rows_rejected, status, schema_drift, message, started_at, "
        "finished_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    assert backend.insert_sql(REJECTS_TABLE, REJECT_COLUMNS) == (
        "insert into bronze_x._rejects (batch_id, table_name, file_path, line_number, "
        "column_name, reason, raw_line, rejected_at) values (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    assert backend.already_loaded_sql() == (
        "select count(*) from bronze_x._load_audit where table_name = %s and sha256 = %s "
        "and status = 'loaded' and file_path = coalesce(%s, file_path)"
    )


def test_snowflake_put_quotes_a_path_with_a_quote():
    sql = SnowflakeBackend(None).put_sql(Path("/tmp/it's here/x.csv.gz"), "orders")
    assert sql.startswith("put 'file:///tmp/it\\'s here/x.csv.gz' @bronze._ingest_stage/orders/")


def test_snowflake_csv_is_written_in_table_column_order(tmp_path):
    """``copy into`` loads by position: the CSV must follow the DDL, meta columns last."""
    backend = SnowflakeBackend(None)
    parsed = _parse(backend, _carriers_file(tmp_path))
    assert (parsed.rows_loaded, parsed.rows_rejected) == (3, 1)
    out = tmp_path / "rows.csv.gz"
    backend.export(parsed, _audit(parsed), out)
    ddl = _tables(backend.ddl())["bronze.carriers"]
    assert backend.table_columns("carriers") == [c for c, _ in ddl]
    meta = f'"{BATCH}","carriers/2026-01-01.csv"'
    at = "2026-01-02 03:04:05.600000"
    # Arrow's writer quotes text and leaves nulls empty (EMPTY_FIELD_AS_NULL keeps them apart);
    # a backslash is data (ESCAPE_UNENCLOSED_FIELD = NONE, no ESCAPE inside quotes)
    assert gzip.decompress(out.read_bytes()).decode().splitlines() == [
        f'1,"Acme, Inc.",,2026-01-01 00:00:00.000000,{meta},2,{at}',  # "" parses as NULL
        f'2,"Say ""hi""",,2026-01-01 00:00:00.000000,{meta},3,{at}',
        f'4,"back\\slash","\\N",2026-01-01 00:00:00.000000,{meta},5,{at}',
    ]
    backend.close()


def test_snowflake_copy_result_must_show_every_file_loaded():
    names = [(n,) for n in ("file", "status", "rows_parsed", "rows_loaded", "error_limit")]
    loaded = ("orders/a.csv.gz", "LOADED", 10, 10, 1)
    assert snowflake_rows_copied(names, [loaded]) == 10
    with pytest.raises(RuntimeError, match="did not load every file"):
        snowflake_rows_copied(names, [("orders/a.csv.gz", "LOAD_SKIPPED", 0, 0, 1)])
    with pytest.raises(RuntimeError, match="loaded no file"):
        snowflake_rows_copied([("status",)], [("Copy executed with 0 files processed.",)])


def test_snowflake_reject_inserts_are_batched_under_the_statement_size_limit():
    rows = [(BATCH, "orders", "orders/x.csv", n, None, "bad", "x" * 100_000, AT) for n in range(7)]
    assert [len(b) for b in batches(rows)] == [2, 2, 2, 1]  # at most 256 kB of values each
    assert [r for b in batches(rows) for r in b] == rows
    assert [len(b) for b in batches(rows[:1] * 500, max_bytes=10**9)] == [500]
    assert list(batches([])) == []


def test_snowflake_settings_come_from_env_and_missing_ones_are_named():
    args = snowflake_args(SNOWFLAKE_ENV)
    assert args == {
        "account": "test-account",
        "user": "loader",
        "password": "not-a-secret",
        "warehouse": "load_wh",
        "database": "analytics",
        "role": "loader_role",
    }
    no_role = {k: v for k, v in SNOWFLAKE_ENV.items() if k != "SNOWFLAKE_ROLE"}
    assert "role" not in snowflake_args(no_role)
    incomplete = {**SNOWFLAKE_ENV, "SNOWFLAKE_USER": "", "SNOWFLAKE_DATABASE": ""}
    with pytest.raises(ValueError, match="needs SNOWFLAKE_USER, SNOWFLAKE_DATABASE") as err:
        SnowflakeBackend.from_env(incomplete)
    assert "not-a-secret" not in str(err.value)


def test_snowflake_without_its_connector_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "snowflake.connector", None)
    with pytest.raises(RuntimeError, match=r"uv sync --extra snowflake"):
        SnowflakeBackend.from_env(SNOWFLAKE_ENV)


# =========================================================================== Snowflake: fakesnow
def test_snowflake_wrong_copy_count_rolls_back_rows_rejects_and_audit_on_fakesnow(
    fake_snowflake, tmp_path
):
    file = _carriers_file(tmp_path)
    with fake_snowflake.backend() as backend:
        assert isinstance(backend, SnowflakeBackend)  # get_backend, connected from SNOWFLAKE_*
        backend.ensure_schema()
        parsed = _parse(backend, file)
        parsed.rows_loaded += 1  # copy into will load one row fewer than expected
        with pytest.raises(RuntimeError, match="copy into loaded 3 rows, expected 4"):
            backend.load(parsed, _audit(parsed))
        parsed.drop()
        for table in ("carriers", REJECTS_TABLE, AUDIT_TABLE):
            assert backend.query(f"select count(*) from bronze.{table}") == [(0,)], table
        assert backend.query("list @bronze._ingest_stage") == []
        parsed = _parse(backend, file)
        backend.load(parsed, _audit(parsed))
        parsed.drop()
        assert backend.query("list @bronze._ingest_stage") == []  # purged by copy into
        rows = backend.query(
            "select carrier_id, carrier_name, service_level, _source_line, _batch_id "
            "from bronze.carriers order by 1"
        )
        rejects = backend.query("select line_number, column_name from bronze._rejects")
    assert rows == [
        (1, "Acme, Inc.", None, 2, BATCH),
        (2, 'Say "hi"', None, 3, BATCH),
        (4, "back\\slash", "\\N", 5, BATCH),
    ]
    assert rejects == [(4, "carrier_id")]


# =========================================================================== Databricks: SQL
@pytest.mark.parametrize(
    "setting", [{"catalog": "main; drop schema bronze"}, {"volume": "stage\n"}, {"catalog": "a.b"}]
)
def test_databricks_catalog_and_volume_must_be_plain_identifiers(setting):
    with pytest.raises(ValueError, match="must be a plain identifier"):
        DatabricksBackend(None, **setting)


def test_databricks_ddl_creates_delta_tables_their_schema_and_the_volume():
    backend = DatabricksBackend(None, catalog="main")
    statements = backend.ddl()
    assert statements[0] == "create schema if not exists main.bronze"
    assert statements[-1] == "create volume if not exists main.bronze.ingest_staging"
    assert all(s.endswith(") using delta") for s in statements[1:-1])
    tables = _tables([s.removesuffix(" using delta") for s in statements])
    assert len(statements) == len(tables) + 2
    assert set(tables) == {f"main.bronze.{t}" for t in [*CONTRACTS, AUDIT_TABLE, REJECTS_TABLE]}
    for table in CONTRACTS:
        assert tables[f"main.bronze.{table}"] == _contract_types(table, backend), table
    facilities = dict(tables["main.bronze.facilities"])
    assert facilities["capacity_units_per_day"] == "int"
    assert facilities["latitude"] == "decimal(9,6)"
    assert next(s for s in statements if "main.bronze.carriers " in s) == (
        "create table if not exists main.bronze.carriers (\n"
        "    carrier_id bigint,\n"
        "    carrier_name string,\n"
        "    service_level string,\n"
        "    updated_at timestamp,\n"
        "    _batch_id string,\n"
        "    _source_file string,\n"
        "    _source_line bigint,\n"
        "    _loaded_at timestamp\n"
        ") using delta"
    )


def test_databricks_put_copy_remove_cleanup_and_inserts_are_exact():
    backend = DatabricksBackend(None, catalog="main", volume="landing_stage")
    name = f"carriers-{BATCH}-0a1b2c3d.parquet"
    volume = f"/Volumes/main/bronze/landing_stage/{name}"
    assert backend.put_sql(Path(f"/tmp/ingest-dbx-1/{name}"), name) == (
        f"put '/tmp/ingest-dbx-1/{name}' into '{volume}' overwrite"
    )
    assert backend.copy_sql("carriers", name) == (
        "copy into main.bronze.carriers from (select "
        "cast(carrier_id as bigint) as carrier_id, "
        "cast(carrier_name as string) as carrier_name, "
        "cast(service_level as string) as service_level, "
        "cast(updated_at as timestamp) as updated_at, "
        "cast(_batch_id as string) as _batch_id, "
        "cast(_source_file as string) as _source_file, "
        "cast(_source_line as bigint) as _source_line, "
        "cast(_loaded_at as timestamp) as _loaded_at "
        f"from '{volume}') fileformat = parquet"
    )
    assert backend.remove_sql(name) == f"remove '{volume}'"
    assert backend.cleanup_statements("carriers", "carriers/2026-01-01.csv") == [
        (
            "delete from main.bronze.carriers as r where r._source_file = ? "
            "and not exists (select 1 from main.bronze._load_audit as a where a.table_name = ? "
            "and a.file_path = r._source_file and a.batch_id = r._batch_id "
            "and a.status = 'loaded')",
            ["carriers/2026-01-01.csv", "carriers"],
        ),
        (
            "delete from main.bronze._rejects as r where r.table_name = ? and r.file_path = ? "
            "and not exists (select 1 from main.bronze._load_audit as a "
            "where a.table_name = r.table_name and a.file_path = r.file_path "
            "and a.batch_id = r.batch_id and a.status = 'loaded')",
            ["carriers", "carriers/2026-01-01.csv"],
        ),
    ]
    assert backend.insert_sql(REJECTS_TABLE, REJECT_COLUMNS, rows=2) == (
        "insert into main.bronze._rejects (batch_id, table_name, file_path, line_number, "
        "column_name, reason, raw_line, rejected_at) values "
        "(?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    assert backend.already_loaded_sql() == (
        "select count(*) from main.bronze._load_audit where table_name = ? and sha256 = ? "
        "and status = 'loaded' and file_path = coalesce(?, file_path)"
    )


def test_databricks_copy_result_counts_inserted_rows_and_refuses_corrupt_files():
    names = [("num_affected_rows",), ("num_inserted_rows",), ("num_skipped_corrupt_files",)]
    assert databricks_rows_copied(names, [(10, 10, 0)]) == 10
    with pytest.raises(RuntimeError, match="corrupt"):
        databricks_rows_copied(names, [(0, 0, 1)])
    with pytest.raises(RuntimeError, match="no row count"):
        databricks_rows_copied([("status",)], [("OK",)])


def test_databricks_reject_inserts_stay_within_the_parameter_limits():
    rows = [(BATCH, "orders", "orders/x.csv", n, None, "bad", "raw", AT) for n in range(70)]
    batches = list(chunks(rows))
    assert [len(b) for b in batches] == [31, 31, 8]  # 31 rows x 8 values <= 255 markers
    assert [r for b in batches for r in b] == rows
    long = [(BATCH, "orders", "orders/x.csv", n, None, "bad", "x" * 200_000, AT) for n in range(5)]
    assert [len(b) for b in chunks(long)] == [2, 2, 1]  # at most 512 kB of values per insert
    assert list(chunks([])) == []


def test_databricks_settings_come_from_env_and_missing_ones_are_named():
    assert databricks_args(DATABRICKS_ENV) == {
        "server_hostname": "adb-1234.5.azuredatabricks.net",
        "http_path": "/sql/1.0/warehouses/abc",
        "access_token": "dapi-not-a-secret",
    }
    with pytest.raises(ValueError, match="needs DATABRICKS_HTTP_PATH, DATABRICKS_TOKEN") as err:
        DatabricksBackend.from_env(
            {**DATABRICKS_ENV, "DATABRICKS_HTTP_PATH": "", "DATABRICKS_TOKEN": ""}
        )
    assert "dapi" not in str(err.value)


def test_databricks_without_its_connector_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "databricks.sql", None)
    with pytest.raises(RuntimeError, match=r"uv sync --extra databricks"):
        get_backend(Settings.from_env(DATABRICKS_ENV))


# =========================================================================== Databricks: loads
class RecordingCursor:
    """Records each statement; answers the few that return rows like a SQL warehouse would."""

    def __init__(self, conn: RecordingConnection):
        self.conn = conn
        self.description: list[tuple] | None = None
        self.rows: list[tuple] = []

    def execute(self, sql: str, params: list | None = None) -> RecordingCursor:
        self.conn.log.append((sql, params))
        self.description, self.rows = None, []
        if sql == "select current_catalog()":
            self.rows = [("main",)]
        elif sql.startswith("select count(*)"):
            self.rows = [(0,)]
        elif sql.startswith("put "):
            local, remote = re.fullmatch(r"put '(.+)' into '(.+)' overwrite", sql).groups()
            self.conn.volume[remote] = self.conn.uploads[remote] = pq.read_table(local)
        elif sql.startswith("copy into "):
            remote = re.search(r"from '(/Volumes/[^']+)'\) fileformat = parquet$", sql)[1]
            inserted = self.conn.volume[remote].num_rows + self.conn.copy_error
            self.description = [
                ("num_affected_rows",),
                ("num_inserted_rows",),
                ("num_skipped_corrupt_files",),
            ]
            self.rows = [(inserted, inserted, 0)]
        elif sql.startswith("remove "):
            del self.conn.volume[sql.removeprefix("remove ").strip("'")]
        return self

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        return self.rows

    def close(self) -> None:
        pass


class RecordingConnection:
    def __init__(self, copy_error: int = 0):
        self.log: list[tuple[str, list | None]] = []
        self.volume: dict = {}  # staged path -> the uploaded Parquet file's rows
        self.uploads: dict = {}  # every upload, kept after its removal from the volume
        self.copy_error = copy_error
        self.closed = False

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def close(self) -> None:
        self.closed = True

    def kinds(self) -> list[str]:
        """Each statement as its verb, with its table for inserts, deletes and copies."""
        out = []
        for sql, _ in self.log:
            words = sql.split()
            if words[0] in ("insert", "delete"):
                out.append(f"{words[0]} {words[2].rsplit('.', 1)[-1]}")
            elif words[0] == "copy":
                out.append(f"copy {words[2].rsplit('.', 1)[-1]}")
            elif words[0] == "create":
                out.append(f"create {words[1]}")
            else:
                out.append(words[0])
        return out


def _databricks(tmp_path: Path, **kw) -> tuple[DatabricksBackend, RecordingConnection]:
    conn = RecordingConnection(**kw)
    staging = tmp_path / "staging"
    staging.mkdir()
    return DatabricksBackend(conn, staging_dir=staging), conn


def test_databricks_load_sends_put_cleanup_copy_rejects_audit_remove_in_order(
    tmp_path, faulty_landing
):
    faulty = _faulty_lines(faulty_landing)
    name = min(f for f in faulty if f.startswith("orders/"))
    file = LandingFile("orders", date.fromisoformat(name[7:17]), faulty_landing / name)
    backend, conn = _databricks(tmp_path)
    report = load_files(backend, [file], batch_id=BATCH)
    assert not report.failed
    kinds = conn.kinds()
    assert kinds[:3] == ["select", "create schema", "create table"]  # current_catalog() first
    assert kinds.count("create table") == len(CONTRACTS) + 2
    assert kinds[kinds.index("create volume") :] == [
        "create volume",
        "select",  # already loaded?
        "select",  # an earlier version of this file name?
        "put",
        "delete orders",
        "delete _rejects",
        "select",  # supersede: is an earlier version loaded?
        "copy orders",
        "insert _rejects",
        "insert _load_audit",
        "remove",
    ]
    assert conn.volume == {}  # removed after the load
    assert list((tmp_path / "staging").iterdir()) == []  # local Parquet file deleted

    # the uploaded Parquet file: the good rows, in load_columns order, with the meta columns
    [(path, rows)] = conn.uploads.items()
    assert path.startswith(f"/Volumes/main/bronze/ingest_staging/orders-{BATCH}-")
    assert rows.column_names == backend.load_columns("orders")
    manifest = json.loads((faulty_landing / "_manifest.json").read_text())["files"]
    wanted = [n for n in range(2, manifest[name] + 2) if n not in faulty[name]]
    assert sorted(rows.column("_source_line").to_pylist()) == wanted  # swallowed lines last
    assert set(rows.column("_source_file").to_pylist()) == {name}
    assert set(rows.column("_batch_id").to_pylist()) == {BATCH}

    assert kinds.count("insert _rejects") == 1
    params = {kind: p for kind, (_, p) in zip(kinds, conn.log, strict=True)}
    rejected = params["insert _rejects"]
    assert [rejected[i] for i in range(3, len(rejected), 8)] == sorted(faulty[name])
    audit = dict(zip([c for c, _ in AUDIT_COLUMNS], params["insert _load_audit"], strict=True))
    assert audit["status"] == "loaded" and audit["file_path"] == name
    assert audit["rows_read"] == manifest[name] == len(wanted) + len(faulty[name])
    assert (audit["rows_loaded"], audit["rows_rejected"]) == (len(wanted), len(faulty[name]))


def test_databricks_wrong_copy_count_deletes_the_rows_and_writes_no_audit(tmp_path):
    backend, conn = _databricks(tmp_path, copy_error=-1)
    parsed = _parse(backend, _carriers_file(tmp_path))
    with pytest.raises(RuntimeError, match="copy into inserted 2 rows, expected 3"):
        backend.load(parsed, _audit(parsed))
    assert conn.kinds() == [
        "select",  # current_catalog()
        "put",
        "delete carriers",
        "delete _rejects",
        "select",  # supersede: is an earlier version loaded?
        "copy carriers",
        "delete carriers",  # undo what the copy committed
        "delete _rejects",
        "remove",
    ]
    assert conn.volume == {}
    backend.close()
    assert conn.closed


def test_databricks_file_without_good_rows_uploads_nothing(tmp_path):
    backend, conn = _databricks(tmp_path)
    backend.catalog = "main"  # no current_catalog() lookup
    lines = CARRIERS_CSV.splitlines()
    parsed = _parse(backend, _carriers_file(tmp_path, f"{lines[0]}\n{lines[3]}\n"))
    assert (parsed.rows_loaded, parsed.rows_rejected) == (0, 1)
    backend.load(parsed, _audit(parsed))
    assert conn.kinds() == [
        "delete carriers",
        "delete _rejects",
        "select",  # supersede: is an earlier version loaded?
        "insert _rejects",
        "insert _load_audit",
    ]


def test_databricks_retry_cleanup_deletes_only_rows_no_loaded_audit_accounts_for():
    """The cleanup's deletes, run on DuckDB: what a crash left goes, loaded rows stay."""
    duck = DuckDBBackend(":memory:")
    duck.ensure_schema()
    con = duck.con
    for batch, file in [("b1", "a.csv"), ("b2", "a.csv"), ("b2", "b.csv"), ("b3", "a.csv")]:
        con.execute(
            "insert into bronze.carriers (carrier_id, _batch_id, _source_file) values (1, ?, ?)",
            [batch, f"carriers/{file}"],
        )
        con.execute(
            "insert into bronze._rejects (batch_id, table_name, file_path, line_number) "
            "values (?, 'carriers', ?, 2)",
            [batch, f"carriers/{file}"],
        )
    # b1 loaded a.csv; b3 failed on it; b2's loads of a.csv and b.csv never wrote their audit
    for batch, status in [("b1", "loaded"), ("b3", "failed")]:
        con.execute(
            "insert into bronze._load_audit (batch_id, table_name, file_path, status) "
            "values (?, 'carriers', 'carriers/a.csv', ?)",
            [batch, status],
        )
    for sql, params in DatabricksBackend(None).cleanup_statements("carriers", "carriers/a.csv"):
        con.execute(sql, params)
    kept = [("b1", "carriers/a.csv"), ("b2", "carriers/b.csv")]
    assert (
        con.execute("select _batch_id, _source_file from bronze.carriers order by 1").fetchall()
        == kept
    )
    assert (
        con.execute("select batch_id, file_path from bronze._rejects order by 1").fetchall() == kept
    )
    duck.close()
