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
import re
import tempfile
import uuid
from collections.abc import Iterator
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
    engine_module,
    failpoint,
    require_env,
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
