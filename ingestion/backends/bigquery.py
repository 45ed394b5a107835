"""BigQuery warehouse: good rows reach bronze through a Parquet load job and one transaction.

The file is parsed and validated by an in-memory DuckDB, which writes the good rows, with their
constant load metadata, as a Parquet file; the rejects go to a second Parquet file. Each is
uploaded by a load job (``Client.load_table_from_file``, an explicit schema mapped from the
contract: decimals keep their precision and scale as ``numeric(p,s)``, or ``bignumeric(p,s)``
beyond what ``numeric`` holds) into a staging table of the bronze dataset created for this load
(``_ingest_<table>_<uuid>``, expiring after a day, ``WRITE_EMPTY``). Then ONE multi-statement
transaction (a script query):

- checks again that this content has not been loaded meanwhile (then it audits a skip only);
- marks an earlier ``loaded`` version of the same file name ``superseded`` and deletes its rows;
- copies the staged rows into ``bronze.<table>`` and the staged rejects into ``bronze._rejects``,
  each followed by an ``assert`` on ``@@row_count`` (a wrong count fails the script, and
  BigQuery rolls the transaction back);
- inserts the audit row, commits.

The staging tables are dropped afterwards; a process killed in between leaves them to expire.

Every value (file name, sha256, batch, counts, times) is a query parameter; the only names in
SQL text are the project (checked against BigQuery's project id rule), the bronze schema (a plain
identifier, see ``config.Settings``), contract names and this module's own.

What BigQuery does not give here: load jobs run outside transactions (hence the staging tables),
and there are no locks: two loaders committing the same table at once make one of them fail with
BigQuery's concurrent-update error rather than wait. Timestamps: the landing files hold
wall-clock values; ``timestamp`` is BigQuery's absolute type, so they are stored as UTC.

Settings (environment only, see ``.env.example``): ``BIGQUERY_PROJECT`` (required),
``BIGQUERY_LOCATION`` (where jobs run and the dataset is created, e.g. ``EU``), and
``BIGQUERY_KEYFILE`` (a service-account JSON key; without it, Application Default Credentials).
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any, ClassVar

from ..contracts import BIGINT, BOOLEAN, CONTRACTS, DATE, INTEGER, TIMESTAMP, VARCHAR, decimal_parts
from ..parse import ParsedFile
from .base import (
    AUDIT_COLUMNS,
    AUDIT_TABLE,
    META_COLUMNS,
    REJECT_COLUMNS,
    REJECTS_TABLE,
    AuditRow,
    ExportingBackend,
    engine_module,
    failpoint,
    require_env,
)

REQUIRED_ENV = ("BIGQUERY_PROJECT",)
# a project id (6-30 of a-z 0-9 -), optionally domain-scoped (example.com:project)
_PROJECT = re.compile(r"(?:[a-z0-9][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_LOCATION = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,30}")
STAGING_HOURS = 24
# contract type -> (BigQuery type in DDL, in a load job's schema, of a query parameter)
_SCALARS: dict[str, tuple[str, str]] = {
    BIGINT: ("int64", "INT64"),
    INTEGER: ("int64", "INT64"),
    VARCHAR: ("string", "STRING"),
    BOOLEAN: ("bool", "BOOL"),
    DATE: ("date", "DATE"),
    TIMESTAMP: ("timestamp", "TIMESTAMP"),
}


def _bigquery():
    """``google.cloud.bigquery``, or an error saying how to install it."""
    return engine_module("google.cloud.bigquery", "bigquery", "google-cloud-bigquery")


def numeric_type(precision: int, scale: int) -> str:
    """``NUMERIC`` holds up to 29 integer digits and 9 decimals; beyond, ``BIGNUMERIC``."""
    return "NUMERIC" if scale <= 9 and precision - scale <= 29 else "BIGNUMERIC"


def client_from_env(env: dict[str, str]):
    """A ``bigquery.Client`` from the ``BIGQUERY_*`` variables; secrets come from nowhere else."""
    require_env(env, REQUIRED_ENV, "bigquery")
    bigquery = _bigquery()
    credentials = None
    if env.get("BIGQUERY_KEYFILE"):
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(
            env["BIGQUERY_KEYFILE"], scopes=["https://www.googleapis.com/auth/bigquery"]
        )
    return bigquery.Client(
        project=env["BIGQUERY_PROJECT"],
        credentials=credentials,
        location=env.get("BIGQUERY_LOCATION") or None,
    )


class BigQueryBackend(ExportingBackend):
    name = "bigquery"
    types: ClassVar[dict[str, str]] = {t: sql for t, (sql, _) in _SCALARS.items()}

    def __init__(
        self,
        client: Any | None,
        schema: str = "bronze",
        project: str | None = None,
        location: str | None = None,
    ):
        """Use a ``google.cloud.bigquery.Client``; the backend owns it from here and closes it in
        ``close``. Without one (``None``), only the methods that build SQL work (give
        ``project`` then). ``project`` defaults to the client's, ``location`` to the client's."""
        super().__init__(schema)
        self.client = client
        self.project = project or (client.project if client is not None else None)
        self.location = location or (getattr(client, "location", None) if client else None)
        if not self.project or not _PROJECT.fullmatch(self.project):
            raise ValueError(
                f"BIGQUERY_PROJECT must be a project id (lower-case letters, digits and -, "
                f"6 to 30 characters), got {self.project!r}"
            )
        if self.location is not None and not _LOCATION.fullmatch(self.location):
            raise ValueError(
                f"BIGQUERY_LOCATION must be a location name such as EU or us-east1, "
                f"got {self.location!r}"
            )

    @classmethod
    def from_env(cls, env: dict[str, str], schema: str = "bronze") -> BigQueryBackend:
        return cls(client_from_env(env), schema)

    # ------------------------------------------------------------------ SQL, without a client
    def sql_type(self, type_: str) -> str:
        parts = decimal_parts(type_)
        if parts:
            return f"{numeric_type(*parts).lower()}({parts[0]},{parts[1]})"
        return self.types[type_]

    def qualified(self, table: str) -> str:
        return f"`{self.project}`.{self.schema}.{table}"

    def ddl(self) -> list[str]:
        out = super().ddl()
        out[0] = f"create schema if not exists `{self.project}`.{self.schema}"
        return out

    def table_columns(self, table: str) -> list[tuple[str, str]]:
        """(column, contract type) of a bronze table, in ``ddl()`` order."""
        return [(c.name, c.type) for c in CONTRACTS[table].columns] + list(META_COLUMNS)

    def load_schema(self, columns: list[tuple[str, str]]) -> list:
        """The explicit schema of a load job: ``SchemaField``s with exact types."""
        bigquery = _bigquery()
        fields = []
        for name, type_ in columns:
            parts = decimal_parts(type_)
            if parts:
                fields.append(
                    bigquery.SchemaField(
                        name, numeric_type(*parts), precision=parts[0], scale=parts[1]
                    )
                )
            else:
                fields.append(bigquery.SchemaField(name, _SCALARS[type_][1]))
        return fields

    def staging_sql(self, staging: str, columns: list[tuple[str, str]]) -> str:
        """A staging table for one load, gone after ``STAGING_HOURS`` if nobody drops it."""
        return (
            self._create(staging, columns).replace(" if not exists ", " ", 1)
            + f" options (expiration_timestamp = timestamp_add(current_timestamp(), "
            f"interval {STAGING_HOURS} hour))"
        )

    def already_loaded_sql(self) -> str:
        return (
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = @table_name "
            "and sha256 = @sha256 and status = 'loaded' "
            "and file_path = coalesce(@file_path, file_path)"
        )

    def audit_insert_sql(
        self,
        status: str = "@status",
        rows: str = "@rows_loaded, @rows_rejected",
        message: str = "@message",
    ) -> str:
        """Insert one audit row from the named parameters of ``audit_params`` (``status``,
        ``rows`` and ``message`` may be SQL literals instead, for the audited skip)."""
        names = ", ".join(c for c, _ in AUDIT_COLUMNS)
        return (
            f"insert into {self.qualified(AUDIT_TABLE)} ({names}) values (@batch_id, "
            f"@table_name, @file_path, @sha256, @file_bytes, @rows_read, {rows}, {status}, "
            f"@schema_drift, {message}, @started_at, @finished_at)"
        )

    def load_script(self, table: str, rows_staging: str | None, rejects_staging: str | None) -> str:
        """The transaction that makes a load visible: all of it, or (on any error) none."""
        audit = self.qualified(AUDIT_TABLE)
        cols = ", ".join(c for c, _ in self.table_columns(table))
        reject_cols = ", ".join(c for c, _ in REJECT_COLUMNS)
        lines = [
            "begin transaction;",
            f"if exists (select 1 from {audit} where table_name = @table_name "
            "and sha256 = @sha256 and status = 'loaded' "
            "and file_path = coalesce(@empty_name, file_path)) then",
            "  "
            + self.audit_insert_sql("'skipped'", "0, 0", "'same sha256 loaded meanwhile'")
            + ";",
            "  commit transaction;",
            "  select 'skipped' as outcome;",
            "else",
            f"  update {audit} set status = 'superseded' where table_name = @table_name "
            "and file_path = @file_path and status = 'loaded';",
            "  if @@row_count > 0 then",
            f"    delete from {self.qualified(table)} where _source_file = @file_path;",
            "  end if;",
        ]
        if rows_staging:
            lines += [
                f"  insert into {self.qualified(table)} ({cols}) "
                f"select {cols} from {self.qualified(rows_staging)};",
                f"  assert @@row_count = @rows_loaded as 'bronze.{table}: the insert did not "
                "add the parsed row count';",
            ]
        if rejects_staging:
            lines += [
                f"  insert into {self.qualified(REJECTS_TABLE)} ({reject_cols}) "
                f"select {reject_cols} from {self.qualified(rejects_staging)};",
                "  assert @@row_count = @rows_rejected as 'bronze._rejects: the insert did not "
                "add the rejected row count';",
            ]
        lines += [
            "  " + self.audit_insert_sql() + ";",
            "  commit transaction;",
            "  select 'loaded' as outcome;",
            "end if;",
        ]
        return "\n".join(lines)

    @staticmethod
    def audit_params(audit: AuditRow) -> list:
        """Named parameters of ``audit_insert_sql``: one per audit column."""
        bigquery = _bigquery()
        types = {c: _SCALARS[t][1] for c, t in AUDIT_COLUMNS}
        values = dict(
            zip([c for c, _ in AUDIT_COLUMNS], BigQueryBackend.audit_values(audit), strict=True)
        )
        return [bigquery.ScalarQueryParameter(c, types[c], v) for c, v in values.items()]

    @staticmethod
    def load_params(audit: AuditRow, empty_name: str | None) -> list:
        """Named parameters of ``load_script``: the audit's, and the name an empty file (header
        only) is also known by (``None`` for a file with rows: its content is enough)."""
        bigquery = _bigquery()
        empty = bigquery.ScalarQueryParameter("empty_name", "STRING", empty_name)
        return [*BigQueryBackend.audit_params(audit), empty]

    # ------------------------------------------------------------------ engine work
    def _run(self, sql: str, params: list | None = None) -> list[tuple]:
        bigquery = _bigquery()
        config = bigquery.QueryJobConfig(query_parameters=params or [])
        job = self.client.query(sql, job_config=config, location=self.location)
        return [tuple(row.values()) for row in job.result()]

    def ensure_schema(self) -> None:
        for statement in self.ddl():
            self._run(statement)

    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        bigquery = _bigquery()
        params = [
            bigquery.ScalarQueryParameter("table_name", "STRING", table),
            bigquery.ScalarQueryParameter("sha256", "STRING", sha256),
            bigquery.ScalarQueryParameter("file_path", "STRING", file_path),
        ]
        return bool(self._run(self.already_loaded_sql(), params)[0][0])

    def audit_exists(self, table: str, file_path: str, status: str) -> bool:
        bigquery = _bigquery()
        params = [
            bigquery.ScalarQueryParameter("table_name", "STRING", table),
            bigquery.ScalarQueryParameter("file_path", "STRING", file_path),
            bigquery.ScalarQueryParameter("status", "STRING", status),
        ]
        sql = (
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = @table_name "
            "and file_path = @file_path and status = @status"
        )
        return bool(self._run(sql, params)[0][0])

    def export(self, parsed: ParsedFile, audit: AuditRow, path: Path) -> None:
        """Write the good rows, with their meta columns, as Parquet, in the staging table's
        column order (so that matching by name or by position gives the same columns)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        order = [c for c, _ in self.table_columns(parsed.contract.name)]
        reader = self.good_rows(parsed, audit)
        schema = pa.schema([reader.schema.field(c) for c in order])
        with pq.ParquetWriter(path, schema) as writer:
            for batch in reader:
                writer.write_batch(batch.select(order))

    def export_rejects(self, parsed: ParsedFile, audit: AuditRow, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = {"varchar": pa.string(), "bigint": pa.int64(), "timestamp": pa.timestamp("us")}
        schema = pa.schema([(c, arrow[t]) for c, t in REJECT_COLUMNS])
        rows = self.reject_rows(parsed, audit.batch_id, audit.started_at)
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in REJECT_COLUMNS]
        pq.write_table(pa.Table.from_arrays(list(columns), schema=schema), path)

    def _stage(self, path: Path, staging: str, columns: list[tuple[str, str]], rows: int) -> None:
        """Create the staging table and fill it from ``path`` with one load job."""
        bigquery = _bigquery()
        self._run(self.staging_sql(staging, columns))
        config = bigquery.LoadJobConfig(
            schema=self.load_schema(columns),
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_EMPTY,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        )
        destination = f"{self.project}.{self.schema}.{staging}"
        with path.open("rb") as fh:
            # with the size, files under 5 MB go in one multipart request, larger ones resumable
            job = self.client.load_table_from_file(
                fh,
                destination,
                size=path.stat().st_size,
                job_config=config,
                location=self.location,
            )
        job.result()
        if job.output_rows != rows:
            raise RuntimeError(
                f"load job {job.job_id} loaded {job.output_rows} rows, expected {rows}"
            )

    def load(self, parsed: ParsedFile, audit: AuditRow) -> str:
        """Stage the good rows and the rejects (load jobs), then one transaction."""
        table = parsed.contract.name
        tag = uuid.uuid4().hex[:12]
        rows_staging = f"_ingest_{table}_{tag}" if parsed.rows_loaded else None
        rejects_staging = f"_ingest_rejects_{tag}" if parsed.rows_rejected else None
        local = self.staging / f"{table}-{tag}.parquet"
        local_rejects = self.staging / f"rejects-{tag}.parquet"
        created: list[str] = []
        try:
            if rows_staging:
                self.export(parsed, audit, local)
                created.append(rows_staging)
                self._stage(local, rows_staging, self.table_columns(table), parsed.rows_loaded)
            if rejects_staging:
                self.export_rejects(parsed, audit, local_rejects)
                created.append(rejects_staging)
                self._stage(
                    local_rejects, rejects_staging, list(REJECT_COLUMNS), parsed.rows_rejected
                )
            failpoint("before_commit")
            empty_name = None if parsed.check.data_lines else parsed.file.name
            [(outcome,)] = self._run(
                self.load_script(table, rows_staging, rejects_staging),
                self.load_params(audit, empty_name),
            )
            return outcome
        finally:
            for staging in created:
                try:
                    self._run(f"drop table if exists {self.qualified(staging)}")
                except Exception as exc:  # never hides the load's own error: said beside it
                    logging.getLogger(__name__).warning(
                        "could not drop the staging table %s (it expires in a day by itself): %s",
                        self.qualified(staging),
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    )
            local.unlink(missing_ok=True)
            local_rejects.unlink(missing_ok=True)

    def record(self, audit: AuditRow) -> None:
        self._run(self.audit_insert_sql(), self.audit_params(audit))

    def query(self, sql: str) -> list[tuple]:
        return self._run(sql)

    def close(self) -> None:
        try:
            if self.client is not None:
                self.client.close()
        finally:
            super().close()


__all__ = ["BigQueryBackend", "client_from_env", "numeric_type"]


def backend(settings) -> BigQueryBackend:
    """The registry's entry (ingestion/backends/__init__.py): the loader, from the environment."""
    return BigQueryBackend.from_env(settings.env, settings.schema)
