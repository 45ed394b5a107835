"""What every warehouse backend provides, and the bronze tables they all create.

A backend parses a landing file (always with DuckDB's CSV reader, see ``parse.py``) and loads the
good rows, the rejects and the audit row of that file in ONE transaction of its engine, through the
engine's bulk path. The bronze layout is the same everywhere:

- ``bronze.<table>``: the contract's columns, typed, plus ``_batch_id``, ``_source_file``,
  ``_source_line``, ``_loaded_at``;
- ``bronze._load_audit``: one row per file load attempt (``loaded``, ``skipped``, ``failed`` or
  ``ignored``; a ``loaded`` row becomes ``superseded`` when a new version of the same file name
  replaces its rows);
- ``bronze._rejects``: one row per line that could not be loaded, with the reason and raw text.

A file name already loaded with other content is a new version of that file: ``load`` deletes the
earlier version's rows and marks its audit row ``superseded`` in the same transaction that inserts
the new rows. Loads of one table are serialised (a PostgreSQL advisory lock, DuckDB's single
writer, a lock file around the local Spark session) and ``load`` checks again, under that lock,
that the content has not been loaded meanwhile: two loaders never load a file twice.

No value from a file reaches SQL text: load metadata (batch, file name, time) is bound as
parameters, and the only names in SQL are contract names and this module's own.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb
import pandas as pd
import pyarrow as pa

from ..contracts import BIGINT, BOOLEAN, CONTRACTS, DATE, INTEGER, TIMESTAMP, VARCHAR, decimal_parts
from ..landing import FileCheck, LandingFile
from ..parse import ParsedFile, parse_file

if TYPE_CHECKING:
    from ..config import Settings

META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_batch_id", VARCHAR),
    ("_source_file", VARCHAR),
    ("_source_line", BIGINT),
    ("_loaded_at", TIMESTAMP),
)
AUDIT_TABLE = "_load_audit"
REJECTS_TABLE = "_rejects"

# Set by tests to stop a load between its inserts and its commit (see
# tests/test_ingestion_cli.py::test_sigkill_mid_load_leaves_no_partial_rows_and_the_next_run_completes).
FAILPOINT_ENV = "INGESTION_FAILPOINT"


# Bound after ``ParsedFile.select``: the constant load metadata of every good row.
META_PARAMS_SQL = (
    ", cast(? as varchar) as _batch_id, cast(? as varchar) as _source_file, "
    "cast(? as timestamp) as _loaded_at"
)


@dataclass
class AuditRow:
    batch_id: str
    table_name: str
    file_path: str
    sha256: str | None
    file_bytes: int | None
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    status: str  # loaded | skipped | failed | ignored (| superseded, set later)
    schema_drift: str | None
    message: str | None
    started_at: datetime
    finished_at: datetime


AUDIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_id", VARCHAR),
    ("table_name", VARCHAR),
    ("file_path", VARCHAR),
    ("sha256", VARCHAR),
    ("file_bytes", BIGINT),
    ("rows_read", BIGINT),
    ("rows_loaded", BIGINT),
    ("rows_rejected", BIGINT),
    ("status", VARCHAR),
    ("schema_drift", VARCHAR),
    ("message", VARCHAR),
    ("started_at", TIMESTAMP),
    ("finished_at", TIMESTAMP),
)
REJECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_id", VARCHAR),
    ("table_name", VARCHAR),
    ("file_path", VARCHAR),
    ("line_number", BIGINT),
    ("column_name", VARCHAR),
    ("reason", VARCHAR),
    ("raw_line", VARCHAR),
    ("rejected_at", TIMESTAMP),
)
assert [f.name for f in fields(AuditRow)] == [c for c, _ in AUDIT_COLUMNS]


def engine_module(module: str, target: str, package: str):
    """Import an engine's client library, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeError(
            f"WAREHOUSE_TARGET={target} needs {package}: "
            f"install the extra with `uv sync --extra {target}`"
        ) from None


def require_env(env: dict[str, str], names, target: str) -> None:
    """Raise naming every variable of ``names`` that ``env`` lacks (secrets come from env only)."""
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise ValueError(
            f"WAREHOUSE_TARGET={target} needs {', '.join(missing)}: set them in the environment "
            "(see .env.example)"
        )


def failpoint(name: str) -> None:
    """Pause here when ``INGESTION_FAILPOINT`` names this point (crash tests kill us here)."""
    if os.environ.get(FAILPOINT_ENV) == name:
        print(f"FAILPOINT {name} reached", file=sys.stderr, flush=True)
        time.sleep(600)


class Backend(ABC):
    """A warehouse the loader writes bronze into."""

    name: str = ""
    # logical contract type -> this engine's SQL type (decimals are handled by ``sql_type``)
    types: ClassVar[dict[str, str]] = {
        BIGINT: "bigint",
        INTEGER: "integer",
        VARCHAR: "varchar",
        BOOLEAN: "boolean",
        DATE: "date",
        TIMESTAMP: "timestamp",
    }
    decimal_template = "decimal({p},{s})"
    #: ``True`` when ``load_files`` should write many files of a table at once: the backend
    #: then has ``bulk_files``, ``stage``, ``defer``, ``commit``, ``discard`` and
    #: ``record_many`` (see ``SparkBackend``; ``ingestion.loader._load_in_bulk``)
    bulk: ClassVar[bool] = False
    #: ``True`` when the backend can write a file on a connection of its own
    #: (``writer_load``) while the loader checks and parses the next file on the main one
    #: (``ingestion.loader._load_overlapped``)
    overlap: ClassVar[bool] = False

    def __init__(self, schema: str = "bronze"):
        self.schema = schema

    def sql_type(self, type_: str) -> str:
        parts = decimal_parts(type_)
        if parts:
            return self.decimal_template.format(p=parts[0], s=parts[1])
        return self.types[type_]

    def qualified(self, table: str) -> str:
        return f"{self.schema}.{table}"

    def ddl(self) -> list[str]:
        """Statements creating the bronze schema and tables, if they do not exist."""
        out = [f"create schema if not exists {self.schema}"]
        for name, contract in CONTRACTS.items():
            cols = [(c.name, c.type) for c in contract.columns] + list(META_COLUMNS)
            out.append(self._create(name, cols))
        out.append(self._create(AUDIT_TABLE, list(AUDIT_COLUMNS)))
        out.append(self._create(REJECTS_TABLE, list(REJECT_COLUMNS)))
        return out

    def _create(self, table: str, columns: list[tuple[str, str]]) -> str:
        body = ",\n    ".join(f"{c} {self.sql_type(t)}" for c, t in columns)
        return f"create table if not exists {self.qualified(table)} (\n    {body}\n)"

    def load_columns(self, table: str) -> list[str]:
        """Column order of the rows a load inserts: contract, ``_source_line``, then meta."""
        return [
            *CONTRACTS[table].column_names,
            "_source_line",
            "_batch_id",
            "_source_file",
            "_loaded_at",
        ]

    @staticmethod
    def meta_params(audit: AuditRow, file: LandingFile) -> list:
        """Values for ``META_PARAMS_SQL``'s placeholders."""
        return [audit.batch_id, file.name, audit.started_at]

    @staticmethod
    def good_rows(parsed: ParsedFile, audit: AuditRow, rows_per_batch: int = 100_000):
        """The good rows with their load metadata, as Arrow record batches from DuckDB."""
        table = parsed.con.sql(
            parsed.select(META_PARAMS_SQL), params=Backend.meta_params(audit, parsed.file)
        ).to_arrow_table()
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(rows_per_batch))

    @staticmethod
    def reject_rows(parsed: ParsedFile, batch_id: str, at: datetime) -> list[tuple]:
        return [
            (
                batch_id,
                parsed.contract.name,
                parsed.file.name,
                r.line,
                r.column,
                r.reason,
                r.raw,
                at,
            )
            for r in parsed.rejects
        ]

    @staticmethod
    def audit_values(audit: AuditRow) -> tuple:
        return astuple(audit)

    # ---------------------------------------------------------------- engine-specific
    @abstractmethod
    def ensure_schema(self) -> None: ...

    @abstractmethod
    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        """Whether a file with this content (and, if given, this name) already loaded."""

    @abstractmethod
    def audit_exists(self, table: str, file_path: str, status: str) -> bool:
        """Whether the audit holds a row of this file with this status."""

    @abstractmethod
    def parse(self, file: LandingFile, check: FileCheck, data: bytes) -> ParsedFile: ...

    @abstractmethod
    def load(self, parsed: ParsedFile, audit: AuditRow) -> str:
        """Insert good rows, rejects and the audit row in one transaction; replace an earlier
        version of the same file name (its audit row becomes ``superseded``). Returns
        ``loaded``, or ``skipped`` when this content was loaded meanwhile (checked under the
        table's lock; the skip is audited)."""

    @abstractmethod
    def record(self, audit: AuditRow) -> None:
        """Insert an audit row on its own (skipped and failed files)."""

    @abstractmethod
    def query(self, sql: str) -> list[tuple]: ...

    def close(self) -> None:  # noqa: B027 - optional for backends
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ExportingBackend(Backend):
    """A backend whose engine is not DuckDB: an in-memory DuckDB parses each file and exports
    the good rows (CSV or Parquet) into ``staging``, a private temporary folder, from which the
    engine's bulk path reads them."""

    def __init__(self, schema: str = "bronze"):
        super().__init__(schema)
        self.duck = duckdb.connect()
        self._staging = tempfile.TemporaryDirectory(prefix=f"ingest-{self.name}-")
        self.staging = Path(self._staging.name)

    def parse(self, file: LandingFile, check: FileCheck, data: bytes) -> ParsedFile:
        return parse_file(self.duck, file, CONTRACTS[file.table], check, data)

    def close(self) -> None:
        self.duck.close()
        self._staging.cleanup()


# ====================================================================== reading and writing
# The other half of an engine's module: marts read into pandas and result tables written back
# (ingestion/warehouse.py's connect() picks the engine's subclass from the registry).
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _ident(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier (letters, digits, underscore)")
    return name


class Warehouse:
    """A connection to the warehouse with a few verbs: ``frame``, ``rows``, ``execute``,
    ``table_exists``, ``write``. One subclass per engine, in that engine's module."""

    #: the engine's name (a key of the registry) and its placeholder for a bound value
    target: str = ""
    mark: str = "%s"

    def __init__(self, settings: Settings):
        self.settings = settings

    # ------------------------------------------------------------------ reading
    def frame(self, sql: str, params: Mapping[str, Any] | list | None = None) -> pd.DataFrame:
        """The result of ``sql`` as a DataFrame (bound values: ``self.mark``)."""
        raise NotImplementedError

    def rows(self, sql: str) -> list[tuple]:
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def table_exists(self, schema: str, table: str) -> bool:
        found = self.frame(
            "select count(*) as n from information_schema.tables "
            f"where table_schema = {self.mark} and table_name = {self.mark}",
            [schema, table],
        )
        return bool(len(found) and found.iloc[0, 0])

    def columns(self, schema: str, table: str) -> list[str]:
        """The column names of ``schema.table`` in order (empty when it does not exist)."""
        found = self.frame(
            "select column_name from information_schema.columns "
            f"where table_schema = {self.mark} and table_name = {self.mark} "
            "order by ordinal_position",
            [schema, table],
        )
        return [str(c) for c in found.iloc[:, 0]] if len(found) else []

    # ------------------------------------------------------------------ writing
    def write(
        self,
        df: pd.DataFrame,
        schema: str,
        table: str,
        *,
        replace: bool = False,
        replace_where: tuple[str, Any] | None = None,
    ) -> int:
        """Append ``df`` to ``schema.table`` (created from the frame's columns if missing).

        ``replace`` drops the table first; ``replace_where=(column, value)`` deletes the rows
        with that value first, so writing the same day twice leaves one copy. Returns rows
        written. Readers see all of it or none (one transaction, or one partition swap).
        """
        schema, table = _ident(schema), _ident(table)
        for column in df.columns:
            _ident(str(column))
        if replace_where is not None:
            _ident(replace_where[0])
        return self._write(df, schema, table, replace, replace_where)

    def _write(self, df, schema, table, replace, replace_where) -> int:
        raise NotImplementedError

    def replace_by_parts(self, parts: Iterable[pd.DataFrame], schema: str, table: str) -> int:
        """Replace ``schema.table`` with the rows of ``parts``, holding one part in memory at a
        time: each is appended to ``<table>__staged`` (dropped first), which then takes the
        table's place (``_swap``). Until the swap readers see the old table, and if a part
        fails, the old table stays as it was. Returns rows written."""
        schema, table = _ident(schema), _ident(table)
        staged = _ident(f"{table}__staged")
        rows, first = 0, True
        for part in parts:
            rows += self.write(part, schema, staged, replace=first)
            first = False
        if first:
            raise ValueError(f"no rows to replace {schema}.{table} with: its old rows are kept")
        self._swap(schema, staged, table)
        return rows

    def _swap(self, schema: str, staged: str, table: str) -> None:
        """``schema.staged`` becomes ``schema.table``, the old one dropped. Here two statements
        (Spark, Snowflake: DDL commits on its own, so readers may find no table for a moment
        between them); DuckDB and PostgreSQL make it one transaction, Databricks one Delta
        replace. The new name is qualified: Snowflake would put an unqualified one in the
        session's current schema."""
        self.execute(f"drop table if exists {schema}.{table}")
        self.execute(f"alter table {schema}.{staged} rename to {schema}.{table}")

    def _where(self, replace_where: tuple[str, Any]) -> tuple[str, list]:
        """``column = <bound value>``: the SQL and its parameter."""
        column, value = replace_where
        return f"{_ident(column)} = {self.mark}", [_plain(value)]

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release the connection (subclasses)."""

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@lru_cache(maxsize=1024)
def translate(sql: str, dialect: str) -> str:
    """``sql`` as the packages write it (the dialect DuckDB and PostgreSQL share: ``double
    precision``, ``varchar``, ``::`` casts) in the words of sqlglot's ``dialect`` (``spark``,
    ``databricks``, ``snowflake``). Only syntax is translated: where engines differ in meaning
    (day-of-week numbering, interval arithmetic), the packages compute in pandas instead, and
    tests/test_engines.py compares the engines' answers with DuckDB's. ``?`` markers stay."""
    import sqlglot

    return ";\n".join(sqlglot.transpile(sql, read="postgres", write=dialect))


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """NumPy scalars and pandas timestamps as the plain Python values drivers know."""
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if hasattr(value, "item"):
        return value.item()
    return value


# ====================================================================== read-only queries
# What a serving reader (the metrics API) runs: ``read_only(settings, sql, timeout=..., max_rows=...,
# catalog=...)`` in an engine's module returns an Arrow table, never writes, and raises these.
class WarehouseBusy(RuntimeError):
    """The warehouse cannot be read right now (a build holds the DuckDB file, the server is down)."""


class QueryTimeout(RuntimeError):
    """A query ran longer than its statement timeout (``API_STATEMENT_TIMEOUT``)."""


class TooManyRows(ValueError):
    """A result holds more rows than allowed (``API_MAX_ROWS``)."""


def too_many(max_rows: int) -> str:
    return (
        f"the answer has more than {max_rows} rows (API_MAX_ROWS): ask for a coarser grain, "
        "fewer group-by dimensions, filters or a limit"
    )


def timed_out(seconds: float) -> str:
    return (
        f"the query ran longer than {seconds:g} s (API_STATEMENT_TIMEOUT) and was stopped: "
        "narrow it with a time window, filters or a coarser grain"
    )
