"""The one door from the metrics API to the warehouse: read-only by construction.

Everything the API reads goes through :meth:`Reader.run`, with SQL that MetricFlow compiled (or
the fixed statements of :mod:`metrics_api.alerts`), never text from a request. When the engine
registry replaces ``ingestion.warehouse``, this module is the one place to change.

* **DuckDB**: each query opens the file read-only (``ATTACH ... (READ_ONLY)`` into an in-memory
  database, under the catalog name dbt gave it, so the file may have any name), then switches off
  file access (no ``read_csv('/etc/passwd')``) and locks the configuration. The file is held only
  while a query runs (tens of milliseconds): DuckDB lets one process write a file and nobody read
  it meanwhile, so while a dbt build holds it this raises :class:`WarehouseBusy` (the API answers
  503 with ``Retry-After``, and keeps serving what it has cached). The reverse holds too: a build
  that starts while a query holds the file fails to get its lock (dbt-duckdb does not wait).
* **PostgreSQL**: the reader role (``WAREHOUSE_READER_ROLE``, default ``analytics_reader``, with
  ``WAREHOUSE_READER_PASSWORD``; ``python -m ingestion roles`` makes it), every transaction read-only
  (``default_transaction_read_only``) and ``statement_timeout`` set for the session.

Each query has ``API_STATEMENT_TIMEOUT`` seconds (DuckDB: interrupted by a timer; PostgreSQL: its
own statement timeout) and may return ``max_rows`` rows at most.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal

import pyarrow as pa

from platform_core.settings import current

from .settings import ApiSettings

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class WarehouseBusy(RuntimeError):
    """The warehouse cannot be read right now (a build holds the DuckDB file)."""


class QueryTimeout(RuntimeError):
    """A query ran longer than ``API_STATEMENT_TIMEOUT``."""


class TooManyRows(ValueError):
    """A result holds more rows than ``API_MAX_ROWS``."""


class Reader:
    """Runs compiled SQL on the configured warehouse and returns an Arrow table."""

    def __init__(self, settings: ApiSettings, catalog: str | None = None):
        self.settings = settings
        self.target = settings.target
        if catalog is not None and not _IDENT.fullmatch(catalog):
            raise ValueError(f"catalog {catalog!r} (from the semantic manifest) is not a name")
        # DuckDB: the name dbt's relations use for the file (``"warehouse"."marts"...``)
        self.catalog = catalog or settings.duckdb_path.stem

    @property
    def dialect(self) -> str:
        return self.target

    def run(self, sql: str, max_rows: int | None = None) -> pa.Table:
        max_rows = self.settings.max_rows if max_rows is None else max_rows
        if self.target == "duckdb":
            table = self._run_duckdb(sql, max_rows)
        else:
            table = self._run_postgres(sql, max_rows)
        return _plain_types(table)

    # ------------------------------------------------------------------ DuckDB
    def _open_duckdb(self):
        import duckdb

        path = self.settings.duckdb_path
        if not path.is_file():
            raise FileNotFoundError(
                f"the DuckDB warehouse {path} does not exist: build it (make run) or set DUCKDB_PATH"
            )
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"attach ? as {self.catalog} (read_only)", [str(path)])
        except duckdb.Error as exc:
            con.close()
            if "lock" in str(exc).lower():
                raise WarehouseBusy(
                    f"the warehouse {path.name} is being written (a dbt build or a load holds it); "
                    "answers already cached are still served, others can be asked again in a few "
                    f"seconds. DuckDB said: {exc}"
                ) from exc
            raise
        con.execute(f"use {self.catalog}")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
        return con

    def _run_duckdb(self, sql: str, max_rows: int) -> pa.Table:
        import duckdb

        con = self._open_duckdb()
        timer = threading.Timer(self.settings.statement_timeout, con.interrupt)
        timer.start()
        try:
            reader = con.sql(sql).to_arrow_reader(batch_size=max_rows + 1)
            batches, rows = [], 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows > max_rows:
                    raise TooManyRows(_too_many(max_rows))
            return pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException as exc:
            raise QueryTimeout(_timeout(self.settings.statement_timeout)) from exc
        finally:
            timer.cancel()
            con.close()

    # ------------------------------------------------------------------ PostgreSQL
    def _conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        env = self.settings.env
        # the reader role of ingestion/roles.py: SELECT on marts, metrics and ML marts only
        user = current(env).get("WAREHOUSE_READER_ROLE")
        password = env.get("WAREHOUSE_READER_PASSWORD")
        keys = {
            "host": env.get("PGHOST"),
            "port": env.get("PGPORT"),
            "dbname": env.get("PGDATABASE"),
            "sslmode": env.get("PGSSLMODE"),
            "user": user,
            "password": password,
        }
        timeout_ms = int(self.settings.statement_timeout * 1000)
        return make_conninfo(
            **{k: v for k, v in keys.items() if v},
            application_name="metrics_api",
            connect_timeout="5",
            options=f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}",
        )

    def _run_postgres(self, sql: str, max_rows: int) -> pa.Table:
        import psycopg

        try:
            con = psycopg.connect(self._conninfo(), autocommit=True)
        except psycopg.OperationalError as exc:
            raise WarehouseBusy(f"cannot reach the PostgreSQL warehouse: {exc}") from exc
        try:
            with con.cursor() as cur:
                try:
                    cur.execute(sql)
                except psycopg.errors.QueryCanceled as exc:
                    raise QueryTimeout(_timeout(self.settings.statement_timeout)) from exc
                names = [c.name for c in cur.description or []]
                rows = cur.fetchmany(max_rows + 1)
                if len(rows) > max_rows:
                    raise TooManyRows(_too_many(max_rows))
        finally:
            con.close()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
        return pa.table(
            {name: pa.array(list(values)) for name, values in zip(names, columns, strict=True)}
        )


def _too_many(max_rows: int) -> str:
    return (
        f"the answer has more than {max_rows} rows (API_MAX_ROWS): ask for a coarser grain, "
        "fewer group-by dimensions, filters or a limit"
    )


def _timeout(seconds: float) -> str:
    return (
        f"the query ran longer than {seconds:g} s (API_STATEMENT_TIMEOUT) and was stopped: "
        "narrow it with a time window, filters or a coarser grain"
    )


def _plain_types(table: pa.Table) -> pa.Table:
    """Decimals as floats; timestamps that are all midnights (day grains and up) as dates."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_decimal(kind):
            column = column.cast(pa.float64())
        elif pa.types.is_timestamp(kind) and kind.tz is None:
            values = column.to_pylist()
            if all(v is None or v.time() == dt.time() for v in values):
                column = pa.array([v.date() if v else None for v in values], pa.date32())
        elif pa.types.is_null(kind):
            column = column.cast(pa.float64())
        columns.append(column)
    return pa.table(dict(zip(table.column_names, columns, strict=True)))


def python_value(value):
    """A cell as JSON can carry it."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
