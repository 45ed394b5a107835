"""The one door from the metrics API to the warehouse: read-only by construction, through the
engine registry (:mod:`ingestion.backends`: each engine's ``read_only``).

Everything the API reads goes through :meth:`Reader.run`, with SQL that MetricFlow compiled (or
the fixed statements of :mod:`metrics_api.alerts`), never text from a request.

* **DuckDB** (``ingestion/backends/duckdb.py``): each query opens the file read-only (``ATTACH
  ... (READ_ONLY)`` into an in-memory database, under the catalog name dbt gave it, so the file
  may have any name), then switches off file access (no ``read_csv('/etc/passwd')``) and locks
  the configuration. The file is held only while a query runs (tens of milliseconds): DuckDB lets
  one process write a file and nobody read it meanwhile, so while a dbt build holds it this
  raises :class:`WarehouseBusy` (the API answers 503 with ``Retry-After``, and keeps serving what
  it has cached). The reverse holds too: a build that starts while a query holds the file fails
  to get its lock (dbt-duckdb does not wait).
* **PostgreSQL** (``ingestion/backends/postgres.py``): the reader role
  (``WAREHOUSE_READER_ROLE``, default ``analytics_reader``, with ``WAREHOUSE_READER_PASSWORD``;
  ``python -m ingestion roles`` makes it), every transaction read-only
  (``default_transaction_read_only``) and ``statement_timeout`` set for the session.

Each query has ``API_STATEMENT_TIMEOUT`` seconds (DuckDB: interrupted by a timer; PostgreSQL: its
own statement timeout) and may return ``max_rows`` rows at most.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pyarrow as pa

from ingestion.backends import engine
from ingestion.backends.base import QueryTimeout, TooManyRows, WarehouseBusy
from ingestion.config import Settings

from .settings import ApiSettings

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
__all__ = ["QueryTimeout", "Reader", "TooManyRows", "WarehouseBusy", "python_value"]


class Reader:
    """Runs compiled SQL on the configured warehouse and returns an Arrow table."""

    def __init__(self, settings: ApiSettings, catalog: str | None = None):
        self.settings = settings
        self.target = settings.target
        if catalog is not None and not _IDENT.fullmatch(catalog):
            raise ValueError(f"catalog {catalog!r} (from the semantic manifest) is not a name")
        # DuckDB: the name dbt's relations use for the file (``"warehouse"."marts"...``)
        self.catalog = catalog or settings.duckdb_path.stem
        self._engine = engine(self.target)
        self._warehouse = Settings.from_env(settings.env)

    @property
    def dialect(self) -> str:
        return self.target

    def run(self, sql: str, max_rows: int | None = None) -> pa.Table:
        max_rows = self.settings.max_rows if max_rows is None else max_rows
        table = self._engine.read_only(
            self._warehouse,
            sql,
            timeout=self.settings.statement_timeout,
            max_rows=max_rows,
            catalog=self.catalog,
        )
        return _plain_types(table)


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
