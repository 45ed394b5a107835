"""Snowflake warehouse: good rows reach bronze through a staged gzip CSV and one ``copy into``.

The file is parsed and validated by an in-memory DuckDB (as for PostgreSQL), which writes the good
rows, with their constant load metadata, as a gzip CSV in a temporary folder. The CSV is uploaded
with ``put`` to the internal stage ``<schema>._ingest_stage`` (created by ``ensure_schema``), then
one explicit transaction runs ``copy into`` (which also purges the staged file), the rejects insert
and the audit insert, and commits only when ``copy into`` loaded exactly the parsed row count.

What Snowflake does not guarantee here:

- ``put`` is a file transfer, not a statement of the transaction: it runs before ``begin`` and a
  rollback does not undo it. The staged file is removed by ``purge = true`` when ``copy into``
  succeeds and by an explicit ``remove`` when the load fails; a process killed between ``put`` and
  ``copy into`` leaves a file in the stage (``list @<schema>._ingest_stage``), which is harmless:
  every upload has a name of its own and nothing ever loads a file it did not just upload.
- ``copy into`` loads the CSV by position, in the column order ``ddl()`` creates (contract columns,
  then the meta columns). A bronze table altered by hand (columns reordered) would load wrongly;
  one with more or fewer columns fails the load (column count mismatch).

Connection settings come from the environment only (see ``.env.example``); the connection must be
in autocommit mode (the connector's default) with the ``pyformat`` paramstyle, so that explicit
``begin``/``commit`` delimit the load's transaction.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..contracts import BIGINT, BOOLEAN, CONTRACTS, DATE, INTEGER, TIMESTAMP, VARCHAR
from ..parse import ParsedFile
from .base import (
    AUDIT_COLUMNS,
    AUDIT_TABLE,
    META_COLUMNS,
    REJECT_COLUMNS,
    REJECTS_TABLE,
    AuditRow,
    ExportingBackend,
    Warehouse,
    engine_module,
    failpoint,
    require_env,
    translate,
)

STAGE = "_ingest_stage"
# variable -> keyword of snowflake.connector.connect; SNOWFLAKE_ROLE is optional (the user's
# default role applies without it)
REQUIRED_ENV = {
    "SNOWFLAKE_ACCOUNT": "account",
    "SNOWFLAKE_USER": "user",
    "SNOWFLAKE_PASSWORD": "password",
    "SNOWFLAKE_WAREHOUSE": "warehouse",
    "SNOWFLAKE_DATABASE": "database",
}
OPTIONAL_ENV = {"SNOWFLAKE_ROLE": "role"}
# The connector turns ``executemany`` of an insert into one statement, and Snowflake caps the text
# of a statement (1 MB): rejects are inserted in batches of at most this many bytes of values.
REJECTS_BATCH_BYTES = 256 * 1024
# How the exported CSV reads: DuckDB writes NULL as an empty unquoted field and an empty string as
# "" (EMPTY_FIELD_AS_NULL keeps them apart), quotes a field only when it needs it and never
# escapes with a backslash (so ESCAPE_UNENCLOSED_FIELD = NONE), and no text stands for NULL.
FILE_FORMAT = (
    "type = csv field_delimiter = ',' field_optionally_enclosed_by = '\"' "
    "escape_unenclosed_field = none null_if = () empty_field_as_null = true compression = gzip"
)


def _connector():
    """The ``snowflake.connector`` module, or an error saying how to install it."""
    return engine_module("snowflake.connector", "snowflake", "snowflake-connector-python")


def connect_args(env: dict[str, str]) -> dict[str, str]:
    """Keyword arguments of ``snowflake.connector.connect`` from the ``SNOWFLAKE_*`` variables."""
    require_env(env, REQUIRED_ENV, "snowflake")
    args = {key: env[var] for var, key in REQUIRED_ENV.items()}
    args.update({key: env[var] for var, key in OPTIONAL_ENV.items() if env.get(var)})
    return args


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def batches(rows: list[tuple], max_bytes: int = REJECTS_BATCH_BYTES) -> Iterator[list[tuple]]:
    """``rows`` in order, grouped so that the text values of a group stay under ``max_bytes``."""
    batch: list[tuple] = []
    size = 0
    for row in rows:
        row_size = sum(len(v) for v in row if isinstance(v, str))
        if batch and size + row_size > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_size
    if batch:
        yield batch


def rows_copied(description: list[Any] | None, rows: list[tuple]) -> int:
    """Rows loaded according to the result of ``copy into`` (one row per file it considered).

    Raises when a file was not loaded, or when no file was processed at all (Snowflake then
    answers with a single status column).
    """
    names = [d[0].lower() for d in description or ()]
    if "rows_loaded" not in names:
        raise RuntimeError(f"copy into loaded no file: {rows}")
    status, loaded = names.index("status"), names.index("rows_loaded")
    refused = [r for r in rows if str(r[status]).upper() != "LOADED"]
    if refused:
        raise RuntimeError(f"copy into did not load every file: {refused}")
    return sum(int(r[loaded]) for r in rows)


class SnowflakeBackend(ExportingBackend):
    name = "snowflake"
    # Snowflake has one integer type, NUMBER(38,0); BIGINT and INTEGER are its synonyms
    types: ClassVar[dict[str, str]] = {
        BIGINT: "number(38,0)",
        INTEGER: "number(38,0)",
        VARCHAR: "varchar",
        BOOLEAN: "boolean",
        DATE: "date",
        TIMESTAMP: "timestamp_ntz",
    }
    decimal_template = "number({p},{s})"

    def __init__(self, connection: Any | None, schema: str = "bronze"):
        """Use an open DB-API connection of the Snowflake connector (or fakesnow's stand-in).

        The backend owns the connection from here and closes it in ``close``. Without one
        (``None``), only the methods that build SQL work.
        """
        super().__init__(schema)
        self.conn = connection
        self.cur = connection.cursor() if connection is not None else None

    @classmethod
    def from_env(cls, env: dict[str, str], schema: str = "bronze") -> SnowflakeBackend:
        """Connect with the ``SNOWFLAKE_*`` variables of ``env``; secrets come from nowhere else."""
        args = connect_args(env)
        connection = _connector().connect(
            **args,
            paramstyle="pyformat",
            autocommit=True,
            application="analytics_platform_ingestion",
        )
        return cls(connection, schema)

    # ------------------------------------------------------------------ SQL, without a connection
    @property
    def stage(self) -> str:
        return f"@{self.qualified(STAGE)}"

    def ddl(self) -> list[str]:
        """The bronze schema and tables, then the internal stage the loads upload to."""
        return [*super().ddl(), f"create stage if not exists {self.qualified(STAGE)}"]

    def table_columns(self, table: str) -> list[str]:
        """Columns in the order ``ddl()`` creates them, which is the order of the staged CSV."""
        return [*CONTRACTS[table].column_names, *(c for c, _ in META_COLUMNS)]

    def export(self, parsed: ParsedFile, audit: AuditRow, path: Path) -> None:
        """Write the good rows, with their meta columns, as a gzip CSV (no header)."""
        import gzip

        import pyarrow.csv as pacsv

        order = self.table_columns(parsed.contract.name)
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        with gzip.open(path, "wb", compresslevel=1) as out:
            for batch in self.good_rows(parsed, audit):
                pacsv.write_csv(batch.select(order), out, options)

    def put_sql(self, path: Path, table: str) -> str:
        """Upload one local gzip CSV to ``<stage>/<table>/``, keeping its file name."""
        return (
            f"put {_literal('file://' + Path(path).as_posix())} {self.stage}/{table}/ "
            "auto_compress = false source_compression = gzip overwrite = true"
        )

    def copy_sql(self, table: str, staged: str) -> str:
        """Load one staged file (``<table>/<name>``) into its bronze table, all or nothing.

        No column list: the CSV holds every column in table order (see ``table_columns``).
        """
        return (
            f"copy into {self.qualified(table)} from {self.stage}/{staged} "
            f"file_format = ({FILE_FORMAT}) on_error = abort_statement purge = true"
        )

    def remove_sql(self, staged: str) -> str:
        return f"remove {self.stage}/{staged}"

    def insert_sql(self, table: str, columns: tuple[tuple[str, str], ...]) -> str:
        names = ", ".join(c for c, _ in columns)
        marks = ", ".join("%s" for _ in columns)
        return f"insert into {self.qualified(table)} ({names}) values ({marks})"

    def already_loaded_sql(self) -> str:
        return (
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = %s "
            "and sha256 = %s and status = 'loaded' and file_path = coalesce(%s, file_path)"
        )

    # ------------------------------------------------------------------ engine work
    def ensure_schema(self) -> None:
        for statement in self.ddl():
            self.cur.execute(statement)

    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        self.cur.execute(self.already_loaded_sql(), (table, sha256, file_path))
        return bool(self.cur.fetchone()[0])

    def audit_exists(self, table: str, file_path: str, status: str) -> bool:
        self.cur.execute(
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = %s "
            "and file_path = %s and status = %s",
            (table, file_path, status),
        )
        return bool(self.cur.fetchone()[0])

    def load(self, parsed: ParsedFile, audit: AuditRow) -> str:
        """Stage the good rows, then copy them, the rejects and the audit row in one transaction
        (which first drops an earlier version of the same file name)."""
        table = parsed.contract.name
        local = self.staging / f"{table}-{audit.batch_id}-{uuid.uuid4().hex[:8]}.csv.gz"
        staged = f"{table}/{local.name}" if parsed.rows_loaded else None
        try:
            if staged:
                self.export(parsed, audit, local)
                self.cur.execute(self.put_sql(local, table))
            self.cur.execute("begin")
            try:
                self._supersede(table, parsed.file.name)
                if staged:
                    self._copy(parsed, staged)
                rejects = self.reject_rows(parsed, audit.batch_id, audit.started_at)
                for batch in batches(rejects):
                    self.cur.executemany(self.insert_sql(REJECTS_TABLE, REJECT_COLUMNS), batch)
                self._insert_audit(audit)
                failpoint("before_commit")
                self.cur.execute("commit")
            except BaseException:
                with contextlib.suppress(Exception):  # the load's own error is the one to report
                    self.cur.execute("rollback")
                raise
        except BaseException:
            if staged:
                self._remove(staged)
            raise
        finally:
            local.unlink(missing_ok=True)
        return "loaded"

    def _copy(self, parsed: ParsedFile, staged: str) -> None:
        self.cur.execute(self.copy_sql(parsed.contract.name, staged))
        copied = rows_copied(self.cur.description, self.cur.fetchall())
        if copied != parsed.rows_loaded:
            raise RuntimeError(
                f"{parsed.file.path}: copy into loaded {copied} rows, expected {parsed.rows_loaded}"
            )

    def _supersede(self, table: str, file_path: str) -> None:
        """Inside the load's transaction: drop an earlier loaded version of ``file_path``."""
        self.cur.execute(
            f"update {self.qualified(AUDIT_TABLE)} set status = 'superseded' "
            "where table_name = %s and file_path = %s and status = 'loaded'",
            (table, file_path),
        )
        if self.cur.rowcount:
            self.cur.execute(
                f"delete from {self.qualified(table)} where _source_file = %s", (file_path,)
            )

    def _remove(self, staged: str) -> None:
        """Best effort: a file left in the stage is never loaded again (names are unique)."""
        with contextlib.suppress(Exception):  # the load's own error is the one to report
            self.cur.execute(self.remove_sql(staged))

    def _insert_audit(self, audit: AuditRow) -> None:
        self.cur.execute(self.insert_sql(AUDIT_TABLE, AUDIT_COLUMNS), self.audit_values(audit))

    def record(self, audit: AuditRow) -> None:
        self._insert_audit(audit)  # autocommit: one statement, one transaction

    def query(self, sql: str) -> list[tuple]:
        self.cur.execute(sql)
        return self.cur.fetchall()

    def close(self) -> None:
        try:
            if self.conn is not None:
                self.cur.close()
                self.conn.close()
        finally:
            super().close()


def backend(settings) -> SnowflakeBackend:
    """The registry's entry (ingestion/backends/__init__.py): the loader, from the environment."""
    return SnowflakeBackend.from_env(settings.env, settings.schema)


class SnowflakeWarehouse(Warehouse):
    """Marts read and result tables written on Snowflake (the ``SNOWFLAKE_*`` login), for quality
    and ML. SQL written in the packages' dialect is translated by sqlglot; result frames are
    written with the connector's ``write_pandas`` inside one transaction with the delete of a
    replaced slice. Tested on fakesnow (an in-process stand-in on DuckDB), not on the service."""

    target, mark = "snowflake", "?"

    def __init__(self, settings, connection: Any | None = None):
        super().__init__(settings)
        if connection is None:  # qmark: server-side binding (sqlglot writes ``?`` markers)
            args = connect_args(settings.env)
            connection = _connector().connect(
                **args, paramstyle="qmark", autocommit=True, application="analytics_platform"
            )
        self.conn = connection

    def frame(self, sql, params=None):
        import pandas as pd

        with self.conn.cursor() as cur:
            cur.execute(snowflake_sql(sql), list(params) if params else None)
            names = [c[0].lower() for c in cur.description or []]
            return pd.DataFrame(cur.fetchall(), columns=names)

    def rows(self, sql):
        with self.conn.cursor() as cur:
            cur.execute(snowflake_sql(sql))
            return cur.fetchall() if cur.description else []

    def execute(self, sql):
        with self.conn.cursor() as cur:
            cur.execute(snowflake_sql(sql))

    def table_exists(self, schema, table) -> bool:
        found = self.frame(
            "select count(*) as n from information_schema.tables "
            "where lower(table_schema) = ? and lower(table_name) = ?",
            [schema.lower(), table.lower()],
        )
        return bool(found.iloc[0, 0])

    def columns(self, schema, table) -> list[str]:
        found = self.frame(
            "select column_name from information_schema.columns "
            "where lower(table_schema) = ? and lower(table_name) = ? order by ordinal_position",
            [schema.lower(), table.lower()],
        )
        return [str(c).lower() for c in found.iloc[:, 0]] if len(found) else []

    def _write(self, df, schema, table, replace, replace_where) -> int:
        qualified = f"{schema}.{table}"
        with self.conn.cursor() as cur:
            cur.execute(f"create schema if not exists {schema}")
            if replace:
                cur.execute(f"drop table if exists {qualified}")
            if not self.table_exists(schema, table):
                # DDL commits implicitly on Snowflake: a new table is made and filled outside
                # the transaction (nobody reads it before it exists)
                self._append(df, schema, table, create=True)
                return len(df)
            cur.execute("begin")
            try:
                if replace_where is not None:
                    where, params = self._where(replace_where)
                    cur.execute(f"delete from {qualified} where {where}", params)
                self._append(df, schema, table, create=False)
                cur.execute("commit")
            except Exception:
                cur.execute("rollback")
                raise
        return len(df)

    def _append(self, df, schema: str, table: str, create: bool) -> None:
        from snowflake.connector.pandas_tools import write_pandas

        if not len(df) and not create:
            return
        write_pandas(
            self.conn,
            df.rename(columns={c: str(c).upper() for c in df.columns}),
            table.upper(),
            schema=schema.upper(),
            auto_create_table=create,
            use_logical_type=True,
        )

    def close(self) -> None:
        self.conn.close()


def snowflake_sql(sql: str) -> str:
    """``sql`` in the packages' dialect (DuckDB and PostgreSQL's) as Snowflake SQL (sqlglot)."""
    return translate(sql, "snowflake")


def warehouse(settings) -> SnowflakeWarehouse:
    return SnowflakeWarehouse(settings)
