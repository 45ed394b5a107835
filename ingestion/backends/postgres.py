"""PostgreSQL warehouse: good rows stream into bronze through ``COPY ... FROM STDIN`` (psycopg 3).

Connection settings are libpq's own environment variables (``PGHOST``, ``PGPORT``, ``PGUSER``,
``PGPASSWORD``, ``PGDATABASE``). The file is parsed and validated by an in-memory DuckDB, which
streams the good rows as clean CSV; PostgreSQL receives them in one ``COPY`` inside the same
transaction as the file's rejects and audit row.
"""

from __future__ import annotations

import io
from typing import ClassVar

import pyarrow.csv as pacsv

from ..contracts import BIGINT, BOOLEAN, DATE, INTEGER, TIMESTAMP, VARCHAR
from ..parse import ParsedFile
from .base import (
    AUDIT_COLUMNS,
    AUDIT_TABLE,
    REJECT_COLUMNS,
    REJECTS_TABLE,
    AuditRow,
    ExportingBackend,
    engine_module,
    failpoint,
)

COPY_BATCH_ROWS = 100_000
CSV_OPTIONS = pacsv.WriteOptions(include_header=False)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


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
        parts = []
        for var, key in keys.items():
            if env.get(var):
                value = env[var].replace("\\", "\\\\").replace("'", "\\'")
                parts.append(f"{key}='{value}'")
        return " ".join(parts)

    def ensure_schema(self) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            # one loader at a time per database: DDL races are harmless but noisy
            cur.execute("select pg_advisory_xact_lock(hashtext('ingestion.ensure_schema'))")
            for statement in self.ddl():
                cur.execute(statement)

    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = %s "
                "and sha256 = %s and status = 'loaded' and file_path = coalesce(%s, file_path)",
                (table, sha256, file_path),
            )
            return bool(cur.fetchone()[0])

    def load(self, parsed: ParsedFile, audit: AuditRow) -> None:
        table = parsed.contract.name
        cols = ", ".join(f'"{c}"' for c in self.load_columns(table)[:-3])  # meta: defaults
        with self.conn.transaction(), self.conn.cursor() as cur:
            # The constant load metadata arrives as column defaults set for this transaction
            # only (constant defaults cost nothing per row; sending them in every CSV row
            # would more than double the bytes COPY parses). This holds the table's lock
            # until commit: readers wait for the whole file rather than see part of it.
            target = self.qualified(table)
            meta = {
                "_batch_id": audit.batch_id,
                "_source_file": parsed.file.name,
                "_loaded_at": audit.started_at.isoformat(sep=" "),
            }
            cur.execute(
                f"alter table {target} "
                + ", ".join(f"alter column {c} set default {_literal(v)}" for c, v in meta.items())
            )
            # Rows stream from DuckDB in Arrow batches, formatted as CSV here while the
            # server parses the previous batch: client and server work side by side.
            # Rows stream from DuckDB in Arrow batches, formatted as CSV here while the server
            # parses the previous batch.
            batches = self.duck.execute(parsed.select()).to_arrow_reader(COPY_BATCH_ROWS)
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

    def query(self, sql: str) -> list[tuple]:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def close(self) -> None:
        self.conn.close()
        super().close()
