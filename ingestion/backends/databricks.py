"""Databricks warehouse: good rows reach Delta tables through a Parquet file and ``copy into``.

The file is parsed and validated by an in-memory DuckDB, which writes the good rows with their
constant load metadata as one Parquet file. The connector uploads it to a Unity Catalog volume
(``put '<local>' into '/Volumes/<catalog>/<schema>/<volume>/<file>'``, which needs the connection's
``staging_allowed_local_path``), ``copy into`` loads it, the rejects and the audit row are inserted,
and the staged file is removed.

Databricks has no multi-statement transactions, so a load is not atomic as a whole:

- ``copy into`` is one Delta commit: the file's good rows appear all together or not at all, and
  the load fails unless that commit inserted exactly the parsed row count.
- The rejects and then the audit row are written after it, each its own commit. A crash between
  ``copy into`` and the audit insert leaves rows (and maybe rejects) of a file with no ``loaded``
  audit row: readers see them, and the loader, finding no audit row, loads the file again. So every
  load first deletes the rows and rejects of its file that no ``loaded`` audit row accounts for,
  which makes that retry idempotent; a load that fails with an error does the same before raising.
  Until the retry, bronze may hold those rows: models that must never see them can keep only rows
  whose ``_batch_id`` has a ``loaded`` audit row for their ``_source_file``.
- Two loaders working on the same file at once would delete each other's rows: run one at a time.
- Timestamps: the landing files hold wall-clock values, and ``timestamp`` is Databricks' zoned
  type, so they are stored as times of the session time zone (UTC unless the warehouse or the
  connection sets another).

The bronze schema is ``BRONZE_SCHEMA`` (the ``schema`` argument), as for every backend, so that
dbt's sources find it; ``DATABRICKS_SCHEMA`` is where dbt builds its models.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from ..contracts import BIGINT, BOOLEAN, CONTRACTS, DATE, INTEGER, TIMESTAMP, VARCHAR
from ..landing import FileCheck, LandingFile
from ..parse import ParsedFile, parse_file
from .base import (
    AUDIT_COLUMNS,
    AUDIT_TABLE,
    META_COLUMNS,
    REJECT_COLUMNS,
    REJECTS_TABLE,
    AuditRow,
    Backend,
    Warehouse,
    _missing,
    _plain,
    engine_module,
    failpoint,
    require_env,
    translate,
)

DEFAULT_VOLUME = "ingest_staging"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")  # catalog and volume names go into SQL
REQUIRED_ENV = ("DATABRICKS_HOST", "DATABRICKS_HTTP_PATH", "DATABRICKS_TOKEN")
# A statement takes at most 255 parameter markers and 1 MB of parameter values.
MAX_MARKERS = 255
MAX_PARAM_BYTES = 512 * 1024


def _sql_module():
    """``databricks.sql``, or an error saying how to install it."""
    return engine_module("databricks.sql", "databricks", "databricks-sql-connector")


def connect_args(env: dict[str, str]) -> dict[str, str]:
    """Keyword arguments of ``databricks.sql.connect`` from the ``DATABRICKS_*`` variables."""
    require_env(env, REQUIRED_ENV, "databricks")
    host = env["DATABRICKS_HOST"].strip().removeprefix("https://").removeprefix("http://")
    return {
        "server_hostname": host.rstrip("/"),
        "http_path": env["DATABRICKS_HTTP_PATH"],
        "access_token": env["DATABRICKS_TOKEN"],
    }


def _string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def rows_copied(description: list[Any] | None, rows: list[tuple]) -> int:
    """Rows inserted according to the result of ``copy into``; raises on skipped corrupt files."""
    names = [d[0].lower() for d in description or ()]
    if "num_inserted_rows" not in names or not rows:
        raise RuntimeError(f"copy into gave no row count: {names} {rows}")
    row = rows[0]
    if "num_skipped_corrupt_files" in names and row[names.index("num_skipped_corrupt_files")]:
        raise RuntimeError(f"copy into skipped a corrupt file: {row}")
    return int(row[names.index("num_inserted_rows")])


def chunks(rows: list[tuple]) -> Iterator[list[tuple]]:
    """Rows grouped so that one insert stays within the parameter limits of a statement."""
    if not rows:
        return
    per_statement = MAX_MARKERS // len(rows[0])
    batch: list[tuple] = []
    size = 0
    for row in rows:
        row_size = sum(len(v) for v in row if isinstance(v, str))
        if batch and (len(batch) == per_statement or size + row_size > MAX_PARAM_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_size
    yield batch


class DatabricksBackend(Backend):
    name = "databricks"
    types: ClassVar[dict[str, str]] = {
        BIGINT: "bigint",
        INTEGER: "int",
        VARCHAR: "string",
        BOOLEAN: "boolean",
        DATE: "date",
        TIMESTAMP: "timestamp",
    }
    decimal_template = "decimal({p},{s})"

    def __init__(
        self,
        connection: Any | None,
        schema: str = "bronze",
        catalog: str | None = None,
        volume: str = DEFAULT_VOLUME,
        staging_dir: Path | str | None = None,
    ):
        """Use an open ``databricks.sql`` connection (or a stand-in); the backend owns it from
        here and closes it in ``close``. Without one (``None``), only the methods that build SQL
        work.

        ``staging_dir`` is where the Parquet files are written before upload: it must lie within
        the connection's ``staging_allowed_local_path`` (a temporary folder when not given).
        Without ``catalog``, tables go to the connection's current catalog.
        """
        super().__init__(schema)
        for setting, name in (("DATABRICKS_CATALOG", catalog), ("DATABRICKS_VOLUME", volume)):
            if name is not None and not _IDENT.fullmatch(name):
                raise ValueError(f"{setting} must be a plain identifier, got {name!r}")
        self.conn = connection
        self.cur = connection.cursor() if connection is not None else None
        self.catalog = catalog
        self.volume = volume
        self.duck = duckdb.connect()
        self._tmp = None
        if staging_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ingest-dbx-")
            staging_dir = self._tmp.name
        self.staging_dir = Path(staging_dir)

    @classmethod
    def from_env(cls, env: dict[str, str], schema: str = "bronze") -> DatabricksBackend:
        """Connect with the ``DATABRICKS_*`` variables of ``env``; secrets come from nowhere else."""
        args = connect_args(env)
        sql = _sql_module()
        tmp = tempfile.TemporaryDirectory(prefix="ingest-dbx-")
        try:
            connection = sql.connect(**args, staging_allowed_local_path=tmp.name)
        except BaseException:
            tmp.cleanup()
            raise
        backend = cls(
            connection,
            schema,
            catalog=env.get("DATABRICKS_CATALOG") or None,
            volume=env.get("DATABRICKS_VOLUME") or DEFAULT_VOLUME,
            staging_dir=tmp.name,
        )
        backend._tmp = tmp
        return backend

    # ------------------------------------------------------------------ SQL, without a connection
    @property
    def namespace(self) -> str:
        return f"{self.catalog}.{self.schema}" if self.catalog else self.schema

    def qualified(self, table: str) -> str:
        return f"{self.namespace}.{table}"

    def ddl(self) -> list[str]:
        """The bronze schema, its Delta tables, and the volume the loads upload to."""
        out = super().ddl()
        out[0] = f"create schema if not exists {self.namespace}"
        return [*out, f"create volume if not exists {self.qualified(self.volume)}"]

    def _create(self, table: str, columns: list[tuple[str, str]]) -> str:
        return super()._create(table, columns) + " using delta"

    def volume_path(self, name: str) -> str:
        """Where a staged file lives; needs the catalog (see ``resolve_catalog``)."""
        return f"/Volumes/{self.catalog}/{self.schema}/{self.volume}/{name}"

    def export(self, parsed: ParsedFile, audit: AuditRow, path: Path) -> None:
        """Write the good rows, with their meta columns, as Parquet."""
        import pyarrow.parquet as pq

        reader = self.good_rows(parsed, audit)
        with pq.ParquetWriter(path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)

    def put_sql(self, path: Path, name: str) -> str:
        return f"put {_string(str(path))} into {_string(self.volume_path(name))} overwrite"

    def copy_sql(self, table: str, name: str) -> str:
        """Load one staged Parquet file, each column cast to its bronze type, in one Delta commit."""
        columns = [(c.name, c.type) for c in CONTRACTS[table].columns] + list(META_COLUMNS)
        select = ", ".join(f"cast({c} as {self.sql_type(t)}) as {c}" for c, t in columns)
        return (
            f"copy into {self.qualified(table)} "
            f"from (select {select} from {_string(self.volume_path(name))}) "
            "fileformat = parquet"
        )

    def remove_sql(self, name: str) -> str:
        return f"remove {_string(self.volume_path(name))}"

    def cleanup_statements(self, table: str, file_path: str) -> list[tuple[str, list[str]]]:
        """Deletes of a file's rows and rejects that no ``loaded`` audit row accounts for."""
        audit = self.qualified(AUDIT_TABLE)
        return [
            (
                f"delete from {self.qualified(table)} as r where r._source_file = ? "
                f"and not exists (select 1 from {audit} as a where a.table_name = ? "
                "and a.file_path = r._source_file and a.batch_id = r._batch_id "
                "and a.status = 'loaded')",
                [file_path, table],
            ),
            (
                f"delete from {self.qualified(REJECTS_TABLE)} as r "
                "where r.table_name = ? and r.file_path = ? "
                f"and not exists (select 1 from {audit} as a where a.table_name = r.table_name "
                "and a.file_path = r.file_path and a.batch_id = r.batch_id "
                "and a.status = 'loaded')",
                [table, file_path],
            ),
        ]

    def insert_sql(self, table: str, columns: tuple[tuple[str, str], ...], rows: int = 1) -> str:
        names = ", ".join(c for c, _ in columns)
        marks = "(" + ", ".join("?" for _ in columns) + ")"
        return f"insert into {self.qualified(table)} ({names}) values " + ", ".join([marks] * rows)

    def already_loaded_sql(self) -> str:
        return (
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = ? "
            "and sha256 = ? and status = 'loaded' and file_path = coalesce(?, file_path)"
        )

    # ------------------------------------------------------------------ engine work
    def resolve_catalog(self) -> str:
        """The catalog tables go to: the configured one, else the connection's current one."""
        if not self.catalog:
            self.cur.execute("select current_catalog()")
            self.catalog = self.cur.fetchone()[0]
        return self.catalog

    def ensure_schema(self) -> None:
        self.resolve_catalog()
        for statement in self.ddl():
            self.cur.execute(statement)

    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        self.cur.execute(self.already_loaded_sql(), [table, sha256, file_path])
        return bool(self.cur.fetchone()[0])

    def audit_exists(self, table: str, file_path: str, status: str) -> bool:
        self.cur.execute(
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = ? "
            "and file_path = ? and status = ?",
            [table, file_path, status],
        )
        return bool(self.cur.fetchone()[0])

    def parse(self, file: LandingFile, check: FileCheck, data: bytes) -> ParsedFile:
        return parse_file(self.duck, file, CONTRACTS[file.table], check, data)

    def load(self, parsed: ParsedFile, audit: AuditRow) -> str:
        """Upload, clean up what an interrupted load left, drop an earlier version of the same
        file name, copy, then rejects, audit, remove."""
        self.resolve_catalog()
        table = parsed.contract.name
        name = f"{table}-{audit.batch_id}-{uuid.uuid4().hex[:8]}.parquet"
        local = self.staging_dir / name
        staged = False
        try:
            if parsed.rows_loaded:
                self.export(parsed, audit, local)
                self.cur.execute(self.put_sql(local, name))
                staged = True
            self._cleanup(table, parsed.file.name)
            self._supersede(table, parsed.file.name)
            try:
                if staged:
                    self._copy(parsed, name)
                self._insert_rejects(parsed, audit)
                failpoint("before_commit")
                self._insert_audit(audit)
            except BaseException:
                with contextlib.suppress(Exception):  # the load's own error is the one to report
                    self._cleanup(table, parsed.file.name)
                raise
        finally:
            if staged:
                with contextlib.suppress(Exception):
                    self.cur.execute(self.remove_sql(name))
            local.unlink(missing_ok=True)
        return "loaded"

    def _supersede(self, table: str, file_path: str) -> None:
        """Drop an earlier loaded version of ``file_path`` (two commits: not atomic here)."""
        self.cur.execute(
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = ? "
            "and file_path = ? and status = 'loaded'",
            [table, file_path],
        )
        if self.cur.fetchone()[0]:
            self.cur.execute(
                f"update {self.qualified(AUDIT_TABLE)} set status = 'superseded' "
                "where table_name = ? and file_path = ? and status = 'loaded'",
                [table, file_path],
            )
            self.cur.execute(
                f"delete from {self.qualified(table)} where _source_file = ?", [file_path]
            )

    def _cleanup(self, table: str, file_path: str) -> None:
        for statement, params in self.cleanup_statements(table, file_path):
            self.cur.execute(statement, params)

    def _copy(self, parsed: ParsedFile, name: str) -> None:
        self.cur.execute(self.copy_sql(parsed.contract.name, name))
        copied = rows_copied(self.cur.description, self.cur.fetchall())
        if copied != parsed.rows_loaded:
            raise RuntimeError(
                f"{parsed.file.path}: copy into inserted {copied} rows, "
                f"expected {parsed.rows_loaded}"
            )

    def _insert_rejects(self, parsed: ParsedFile, audit: AuditRow) -> None:
        rows = self.reject_rows(parsed, audit.batch_id, audit.started_at)
        for batch in chunks(rows):
            self.cur.execute(
                self.insert_sql(REJECTS_TABLE, REJECT_COLUMNS, len(batch)),
                [v for row in batch for v in row],
            )

    def _insert_audit(self, audit: AuditRow) -> None:
        self.cur.execute(
            self.insert_sql(AUDIT_TABLE, AUDIT_COLUMNS), list(self.audit_values(audit))
        )

    def record(self, audit: AuditRow) -> None:
        self._insert_audit(audit)

    def query(self, sql: str) -> list[tuple]:
        self.cur.execute(sql)
        return [tuple(r) for r in self.cur.fetchall()]

    def close(self) -> None:
        try:
            if self.conn is not None:
                self.cur.close()
                self.conn.close()
        finally:
            self.duck.close()
            if self._tmp is not None:
                self._tmp.cleanup()


def backend(settings) -> DatabricksBackend:
    """The registry's entry (ingestion/backends/__init__.py): the loader, from the environment."""
    return DatabricksBackend.from_env(settings.env, settings.schema)


# ====================================================================== reading and writing
class DatabricksWarehouse(Warehouse):
    """Marts read and result tables written on a Databricks SQL warehouse (the ``DATABRICKS_*``
    login of the loader and dbt; ``DATABRICKS_CATALOG``, if set, is the session's catalog, so
    ``marts.fct_orders`` means ``<catalog>.marts.fct_orders``), for quality and ML.

    - SQL written in the packages' dialect is translated by sqlglot to ``databricks``; values are
      bound as the connector's native parameters (``?`` markers, sent beside the statement and
      never formatted into it).
    - ``frame`` fetches the result as Arrow (``fetchall_arrow``): decimals become floats and
      zoned timestamps the wall-clock times of the session's zone, as DuckDB's frames give them.
    - ``table_exists`` and ``columns`` ask the catalog's ``information_schema`` (Unity Catalog,
      which the loader's volume already needs).
    - ``write`` sends the frame as parameterised multi-row inserts into a staging Delta table, in
      batches within a statement's parameter limits (``chunks``), then publishes it in ONE Delta
      commit: ``create or replace table ... as select`` (a new table, or ``replace``) or ``insert
      into ... replace where <column> = ?`` (``replace_where``; Delta refuses the commit if a row
      of the frame lies outside that slice), so readers see the old rows or the new, never part.
      The staging table is dropped afterwards. Inserts are one round trip per ~250 values: fine
      for quality results and scores of tens of thousands of rows; the loader's Parquet upload
      to a volume and ``copy into`` is the bulk path for files.
    """

    target, mark = "databricks", "?"

    def __init__(self, settings, connection: Any | None = None):
        super().__init__(settings)
        if connection is None:
            connection = connect(settings.env)
        self.conn = connection

    # ------------------------------------------------------------------ reading
    def _cursor(self, sql: str, params=None):
        cur = self.conn.cursor()
        try:
            cur.execute(databricks_sql(sql), list(params) if params is not None else None)
        except BaseException:
            cur.close()
            raise
        return cur

    def frame(self, sql, params=None):
        import pandas as pd

        cur = self._cursor(sql, params)
        try:
            if not cur.description:
                return pd.DataFrame()
            if hasattr(cur, "fetchall_arrow"):
                return _arrow_pandas(cur.fetchall_arrow())
            names = [c[0] for c in cur.description]
            return pd.DataFrame([tuple(r) for r in cur.fetchall()], columns=names)
        finally:
            cur.close()

    def rows(self, sql):
        cur = self._cursor(sql)
        try:
            if not cur.description:
                return []
            return [tuple(_wall_clock(v) for v in r) for r in cur.fetchall()]
        finally:
            cur.close()

    def execute(self, sql):
        self._cursor(sql).close()

    def table_exists(self, schema, table) -> bool:
        found = self.frame(
            "select count(*) as n from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema.lower(), table.lower()],
        )
        return bool(len(found) and found.iloc[0, 0])

    def columns(self, schema, table) -> list[str]:
        found = self.frame(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema.lower(), table.lower()],
        )
        return [str(c) for c in found.iloc[:, 0]] if len(found) else []

    # ------------------------------------------------------------------ writing
    def _write(self, df, schema, table, replace, replace_where) -> int:
        qualified = f"{schema}.{table}"
        columns = [str(c) for c in df.columns]
        types = [databricks_type(df[c]) for c in df.columns]
        stage = f"{schema}._write_{table}_{uuid.uuid4().hex[:8]}"
        self.execute(f"create schema if not exists {schema}")
        exists = not replace and self.table_exists(schema, table)
        defs = ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=True))
        self.execute(f"create table {stage} ({defs}) using delta")
        try:
            rows = [
                tuple(_bound(v, t) for v, t in zip(row, types, strict=True))
                for row in df.itertuples(index=False, name=None)
            ]
            names = ", ".join(columns)
            marks = "(" + ", ".join("?" for _ in columns) + ")"
            for batch in chunks(rows):
                self._cursor(
                    f"insert into {stage} ({names}) values " + ", ".join([marks] * len(batch)),
                    [v for row in batch for v in row],
                ).close()
            select = f"select {names} from {stage}"
            if not exists:
                self.execute(f"create or replace table {qualified} using delta as {select}")
            elif replace_where is not None:
                where, params = self._where(replace_where)
                self._cursor(
                    f"insert into {qualified} replace where {where} {select}", params
                ).close()
            else:
                self.execute(f"insert into {qualified} ({names}) {select}")
        finally:
            try:
                self.execute(f"drop table if exists {stage}")
            except Exception as exc:  # never hides the write's own error: said beside it
                logging.getLogger(__name__).warning(
                    "could not drop the staging table %s (drop it by hand): %s",
                    stage,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
        return len(rows)

    def _swap(self, schema, staged, table) -> None:
        # one atomic Delta replace (readers see the old rows until it commits, and the table's
        # history is kept for time travel), then the staged copy goes
        self.execute(
            f"create or replace table {schema}.{table} using delta as "
            f"select * from {schema}.{staged}"
        )
        self.execute(f"drop table if exists {schema}.{staged}")

    def close(self) -> None:
        self.conn.close()


def connect(env: dict[str, str], **options):
    """A ``databricks.sql`` connection from the ``DATABRICKS_*`` variables of ``env`` (the
    loader's login), in ``DATABRICKS_CATALOG`` when set. The connector's usage telemetry is off,
    as dbt's anonymous statistics are (the platform reports to nobody)."""
    args = connect_args(env)
    catalog = env.get("DATABRICKS_CATALOG") or None
    if catalog is not None and not _IDENT.fullmatch(catalog):
        raise ValueError(f"DATABRICKS_CATALOG must be a plain identifier, got {catalog!r}")
    return _sql_module().connect(
        **args,
        catalog=catalog,
        enable_telemetry=False,
        user_agent_entry="analytics_platform",
        **options,
    )


def databricks_sql(sql: str) -> str:
    """``sql`` in the packages' dialect as Databricks SQL (sqlglot; see ``base.translate``)."""
    return translate(sql, "databricks")


def databricks_type(series) -> str:
    """The Delta column type a pandas column is written as."""
    dtype = str(series.dtype)
    if dtype.startswith("datetime64"):
        return "timestamp" if "," in dtype else "timestamp_ntz"  # zoned: ``[ns, UTC]``
    if dtype in ("bool", "boolean"):
        return "boolean"
    if dtype.lower().startswith(("int", "uint")):
        return "bigint"
    if dtype.lower().startswith("float"):
        return "double"
    sample = series.dropna()
    if len(sample):
        import datetime as dt

        first = sample.iloc[0]
        if isinstance(first, dt.datetime):
            return "timestamp_ntz" if first.tzinfo is None else "timestamp"
        if isinstance(first, dt.date):
            return "date"
        if isinstance(first, bool):
            return "boolean"
        if isinstance(first, int):
            return "bigint"
        if isinstance(first, float):
            return "double"
    return "string"


def _bound(value: Any, type_: str) -> Any:
    """One value as the connector binds it: None for NaN/NaT, plain Python values, and naive
    times as ``timestamp_ntz`` parameters (a plain ``datetime`` binds as the zoned type)."""
    if _missing(value):
        return None
    value = _plain(value)
    if type_ == "timestamp_ntz":
        from databricks.sql.parameters import TimestampNTZParameter

        return TimestampNTZParameter(value)
    return value


def _wall_clock(value: Any) -> Any:
    """A zoned time as the wall-clock time of its zone (the session's), as in ``frame``."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def _arrow_pandas(table):
    """An Arrow result as pandas: decimals as floats, zoned times as the wall-clock times of
    their zone (the session's), as DuckDB's ``.df()`` gives them."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.float64()))
    frame = table.to_pandas()
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            frame[field.name] = frame[field.name].dt.tz_localize(None)
    return frame


def warehouse(settings) -> DatabricksWarehouse:
    """The registry's entry: quality and ML on the SQL warehouse of the ``DATABRICKS_*`` login."""
    return DatabricksWarehouse(settings)
