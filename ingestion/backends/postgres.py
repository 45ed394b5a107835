"""PostgreSQL warehouse: good rows stream into bronze through ``COPY ... FROM STDIN`` (psycopg 3).

Connection settings are libpq's own environment variables (``PGHOST``, ``PGPORT``, ``PGUSER``,
``PGPASSWORD``, ``PGDATABASE``). The file is parsed and validated by an in-memory DuckDB, which
streams the good rows as clean CSV; PostgreSQL receives them in one ``COPY`` inside the same
transaction as the file's rejects and audit row. Loads of one table take turns on a
transaction-level advisory lock (``hashtextextended('ingestion:<schema>.<table>')``); the
``alter table ... set default`` of the load metadata also holds the table's lock until commit,
so readers see a file whole or not at all.
"""

from __future__ import annotations

import io
from typing import ClassVar

import pyarrow.csv as pacsv

from platform_core.settings import current

from ..config import Settings
from ..contracts import BIGINT, BOOLEAN, DATE, INTEGER, TIMESTAMP, VARCHAR
from ..parse import ParsedFile, quote_ident
from .base import (
    AUDIT_COLUMNS,
    AUDIT_TABLE,
    REJECT_COLUMNS,
    REJECTS_TABLE,
    AuditRow,
    ExportingBackend,
    QueryTimeout,
    TooManyRows,
    Warehouse,
    WarehouseBusy,
    _missing,
    _plain,
    engine_module,
    failpoint,
    timed_out,
    too_many,
)

COPY_BATCH_ROWS = 100_000
CSV_OPTIONS = pacsv.WriteOptions(include_header=False)


class PostgresBackend(ExportingBackend):
    name = "postgres"
    types: ClassVar[dict[str, str]] = {
        BIGINT: "bigint",
        INTEGER: "integer",
        VARCHAR: "text",
        BOOLEAN: "boolean",
        DATE: "date",
        TIMESTAMP: "timestamp",
    }
    decimal_template = "numeric({p},{s})"

    def __init__(self, schema: str = "bronze", conninfo: str = ""):
        psycopg = engine_module("psycopg", "postgres", "psycopg")
        super().__init__(schema)
        self.conn = psycopg.connect(conninfo, autocommit=False)

    @staticmethod
    def conninfo(env: dict[str, str]) -> str:
        """A libpq connection string from the standard PG* variables found in ``env``."""
        keys = {
            "PGHOST": "host",
            "PGPORT": "port",
            "PGUSER": "user",
            "PGPASSWORD": "password",
            "PGDATABASE": "dbname",
            "PGSSLMODE": "sslmode",
        }
        from psycopg.conninfo import make_conninfo

        return make_conninfo(**{key: env[var] for var, key in keys.items() if env.get(var)})

    def ensure_schema(self) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            # one loader at a time per database: DDL races are harmless but noisy
            cur.execute("select pg_advisory_xact_lock(hashtext('ingestion.ensure_schema'))")
            for statement in self.ddl():
                cur.execute(statement)

    def _already_loaded_sql(self) -> str:
        return (
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = %s "
            "and sha256 = %s and status = 'loaded' and file_path = coalesce(%s, file_path)"
        )

    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(self._already_loaded_sql(), (table, sha256, file_path))
            return bool(cur.fetchone()[0])

    def audit_exists(self, table: str, file_path: str, status: str) -> bool:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = %s "
                "and file_path = %s and status = %s",
                (table, file_path, status),
            )
            return bool(cur.fetchone()[0])

    def load(self, parsed: ParsedFile, audit: AuditRow) -> str:
        from psycopg import sql

        table = parsed.contract.name
        target = self.qualified(table)
        cols = ", ".join(quote_ident(c) for c in self.load_columns(table)[:-3])  # meta: defaults
        empty_name = None if parsed.rows_read else parsed.file.name
        with self.conn.transaction(), self.conn.cursor() as cur:
            # Loads of one table take turns; the second re-checks what the first committed.
            cur.execute(
                "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"ingestion:{self.schema}.{table}",),
            )
            cur.execute(self._already_loaded_sql(), (table, audit.sha256, empty_name))
            if cur.fetchone()[0]:
                audit.status, audit.message = "skipped", "same sha256 loaded meanwhile"
                audit.rows_loaded = audit.rows_rejected = 0
                self._insert_audit(cur, audit)
                return "skipped"
            self._supersede(cur, table, parsed.file.name)
            # The constant load metadata arrives as column defaults set for this transaction
            # only: constant defaults cost nothing per row, where sending them in every CSV row
            # would more than double the bytes COPY parses (and a per-row function, such as
            # current_setting(), costs a third of the load). DDL takes no parameters, so the
            # values go in as literals quoted by psycopg (libpq's escaping), never as raw text.
            meta = {
                "_batch_id": audit.batch_id,
                "_source_file": parsed.file.name,
                "_loaded_at": audit.started_at.isoformat(sep=" "),
            }
            cur.execute(
                sql.SQL("alter table {} ").format(sql.SQL(target))
                + sql.SQL(", ").join(
                    sql.SQL("alter column {} set default {}").format(
                        sql.Identifier(c), sql.Literal(v)
                    )
                    for c, v in meta.items()
                )
            )
            # Rows stream from DuckDB in Arrow batches, formatted as CSV here while the server
            # parses the previous batch: client and server work side by side.
            batches = self.duck.sql(parsed.select()).to_arrow_reader(COPY_BATCH_ROWS)
            with cur.copy(f"copy {target} ({cols}) from stdin (format csv)") as copy:
                for batch in batches:
                    sink = io.BytesIO()
                    pacsv.write_csv(batch, sink, CSV_OPTIONS)
                    copy.write(sink.getvalue())
            if cur.rowcount != parsed.rows_loaded:
                raise RuntimeError(
                    f"{parsed.file.path}: copied {cur.rowcount} rows, expected {parsed.rows_loaded}"
                )
            if parsed.rejects:
                names = ", ".join(c for c, _ in REJECT_COLUMNS)
                with cur.copy(f"copy {self.qualified(REJECTS_TABLE)} ({names}) from stdin") as copy:
                    for row in self.reject_rows(parsed, audit.batch_id, audit.started_at):
                        copy.write_row(row)
            cur.execute(
                f"alter table {target} " + ", ".join(f"alter column {c} drop default" for c in meta)
            )
            self._insert_audit(cur, audit)
            failpoint("before_commit")
        return "loaded"

    def _supersede(self, cur, table: str, file_path: str) -> None:
        """Remove the rows of an earlier loaded version of ``file_path``; mark it superseded."""
        cur.execute(
            f"update {self.qualified(AUDIT_TABLE)} set status = 'superseded' "
            "where table_name = %s and file_path = %s and status = 'loaded'",
            (table, file_path),
        )
        if cur.rowcount:
            cur.execute(
                f"delete from {self.qualified(table)} where _source_file = %s", (file_path,)
            )

    def _insert_audit(self, cur, audit: AuditRow) -> None:
        names = ", ".join(c for c, _ in AUDIT_COLUMNS)
        marks = ", ".join("%s" for _ in AUDIT_COLUMNS)
        cur.execute(
            f"insert into {self.qualified(AUDIT_TABLE)} ({names}) values ({marks})",
            self.audit_values(audit),
        )

    def record(self, audit: AuditRow) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._insert_audit(cur, audit)

    def query(self, sql: str, params: tuple | list | None = None) -> list[tuple]:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def close(self) -> None:
        self.conn.close()
        super().close()


_PG_TYPES = {
    "int64": "bigint",
    "Int64": "bigint",
    "int32": "integer",
    "float64": "double precision",
    "bool": "boolean",
    "boolean": "boolean",
    "datetime64[ns]": "timestamp",
    "datetime64[us]": "timestamp",
}


def _pg_type(series) -> str:
    dtype = str(series.dtype)
    if dtype in _PG_TYPES:
        return _PG_TYPES[dtype]
    if dtype.startswith("datetime64"):
        return "timestamptz" if "UTC" in dtype or "," in dtype else "timestamp"
    sample = series.dropna()
    if len(sample):
        import datetime as dt

        first = sample.iloc[0]
        if isinstance(first, dt.datetime):
            return "timestamp"
        if isinstance(first, dt.date):
            return "date"
        if isinstance(first, bool):
            return "boolean"
        if isinstance(first, int):
            return "bigint"
        if isinstance(first, float):
            return "double precision"
    return "text"


class PostgresWarehouse(Warehouse):
    """Marts read and result tables written on the PostgreSQL server of the ``PG*`` settings
    (autocommit; each ``write`` is one transaction, its rows sent by ``COPY``)."""

    target, mark = "postgres", "%s"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        psycopg = engine_module("psycopg", "postgres", "psycopg")
        self._con = psycopg.connect(PostgresBackend.conninfo(settings.env), autocommit=True)

    def frame(self, sql, params=None):
        import pandas as pd

        with self._con.cursor() as cur:
            cur.execute(sql, params)
            columns = [c.name for c in cur.description or []]
            return pd.DataFrame(cur.fetchall(), columns=columns)

    def rows(self, sql):
        with self._con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []

    def execute(self, sql):
        with self._con.cursor() as cur:
            cur.execute(sql)

    def _write(self, df, schema, table, replace, replace_where) -> int:
        qualified = f"{schema}.{table}"
        columns = [str(c) for c in df.columns]
        defs = ", ".join(f"{c} {_pg_type(df[c])}" for c in columns)
        records = [
            tuple(None if _missing(v) else _plain(v) for v in row)
            for row in df.itertuples(index=False, name=None)
        ]
        with self._con.transaction(), self._con.cursor() as cur:
            cur.execute(f"create schema if not exists {schema}")
            if replace:
                cur.execute(f"drop table if exists {qualified}")
            cur.execute(f"create table if not exists {qualified} ({defs})")
            if replace_where is not None:
                where, params = self._where(replace_where)
                cur.execute(f"delete from {qualified} where {where}", params)
            with cur.copy(f"copy {qualified} ({', '.join(columns)}) from stdin") as copy:
                for record in records:
                    copy.write_row(record)
        return len(records)

    def _swap(self, schema, staged, table) -> None:
        with self._con.transaction(), self._con.cursor() as cur:
            cur.execute(f"drop table if exists {schema}.{table}")
            cur.execute(f"alter table {schema}.{staged} rename to {table}")

    def close(self) -> None:
        self._con.close()


def backend(settings: Settings) -> PostgresBackend:
    return PostgresBackend(settings.schema, PostgresBackend.conninfo(settings.env))


def warehouse(settings: Settings) -> PostgresWarehouse:
    return PostgresWarehouse(settings)


def reader_conninfo(settings: Settings, timeout: float) -> str:
    """The reader role's login (``WAREHOUSE_READER_ROLE``, made by ``python -m ingestion roles``:
    SELECT on the marts, metrics and ML marts only), every transaction read-only, and the
    statement timeout set for the session."""
    from psycopg.conninfo import make_conninfo

    s = current(settings.env)
    keys = {
        "host": s.get("PGHOST"),
        "port": str(s.get("PGPORT")),
        "dbname": s.get("PGDATABASE"),
        "sslmode": settings.env.get("PGSSLMODE"),
        "user": s.get("WAREHOUSE_READER_ROLE"),
        "password": s.get("WAREHOUSE_READER_PASSWORD"),
    }
    return make_conninfo(
        **{k: v for k, v in keys.items() if v},
        application_name="metrics_api",
        connect_timeout="5",
        options=f"-c default_transaction_read_only=on -c statement_timeout={int(timeout * 1000)}",
    )


def read_only(settings: Settings, sql: str, *, timeout: float, max_rows: int, catalog=None):
    """``sql`` as the reader role, read-only, as an Arrow table (the metrics API's reader)."""
    import pyarrow as pa

    psycopg = engine_module("psycopg", "postgres", "psycopg")
    try:
        con = psycopg.connect(reader_conninfo(settings, timeout), autocommit=True)
    except psycopg.OperationalError as exc:
        raise WarehouseBusy(f"cannot reach the PostgreSQL warehouse: {exc}") from exc
    try:
        with con.cursor() as cur:
            try:
                cur.execute(sql)
            except psycopg.errors.QueryCanceled as exc:
                raise QueryTimeout(timed_out(timeout)) from exc
            names = [c.name for c in cur.description or []]
            rows = cur.fetchmany(max_rows + 1)
            if len(rows) > max_rows:
                raise TooManyRows(too_many(max_rows))
    finally:
        con.close()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return pa.table(
        {name: pa.array(list(values)) for name, values in zip(names, columns, strict=True)}
    )
