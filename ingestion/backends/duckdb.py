"""DuckDB warehouse: the default, a single file under ``.local/``.

The file is parsed by DuckDB's CSV reader inside the warehouse connection, so good rows go from the
reader to the bronze table without leaving the engine. DuckDB allows one writing process at a time.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from ..contracts import CONTRACTS
from ..landing import FileCheck, LandingFile
from ..parse import ParsedFile, parse_file
from .base import AUDIT_TABLE, REJECT_COLUMNS, REJECTS_TABLE, AuditRow, Backend, failpoint

REJECTS_SCHEMA = pa.schema(
    [
        ("batch_id", pa.string()),
        ("table_name", pa.string()),
        ("file_path", pa.string()),
        ("line_number", pa.int64()),
        ("column_name", pa.string()),
        ("reason", pa.string()),
        ("raw_line", pa.string()),
        ("rejected_at", pa.timestamp("us")),
    ]
)


class DuckDBBackend(Backend):
    name = "duckdb"

    def __init__(self, path: Path | str, schema: str = "bronze"):
        super().__init__(schema)
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(path))

    def ensure_schema(self) -> None:
        for statement in self.ddl():
            self.con.execute(statement)

    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        return bool(
            self.con.execute(
                f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = ? "
                "and sha256 = ? and status = 'loaded' and file_path = coalesce(?, file_path)",
                [table, sha256, file_path],
            ).fetchall()[0][0]
        )

    def parse(self, file: LandingFile, check: FileCheck, data: bytes) -> ParsedFile:
        return parse_file(self.con, file, CONTRACTS[file.table], check, data)

    def load(self, parsed: ParsedFile, audit: AuditRow) -> None:
        table = parsed.contract.name
        cols = ", ".join(f'"{c}"' for c in self.load_columns(table))
        extra = self.meta_select(audit.batch_id, parsed.file, audit.started_at)
        rows = self.reject_rows(parsed, audit.batch_id, audit.started_at)
        rejects = (
            pa.table(
                {name: [r[i] for r in rows] for i, (name, _) in enumerate(REJECT_COLUMNS)},
                schema=REJECTS_SCHEMA,
            )
            if rows
            else None
        )
        self.con.begin()
        try:
            inserted = self.con.execute(
                f"insert into {self.qualified(table)} ({cols}) {parsed.select(extra)}"
            ).fetchall()[0][0]
            if inserted != parsed.rows_loaded:
                raise RuntimeError(
                    f"{parsed.file.path}: inserted {inserted} rows, expected {parsed.rows_loaded}"
                )
            if rejects is not None:
                self.con.register("_rejects_batch", rejects)
                self.con.execute(
                    f"insert into {self.qualified(REJECTS_TABLE)} select * from _rejects_batch"
                )
                self.con.unregister("_rejects_batch")
            self._insert_audit(audit)
            failpoint("before_commit")
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    def _insert_audit(self, audit: AuditRow) -> None:
        values = self.audit_values(audit)
        marks = ", ".join("?" for _ in values)
        self.con.execute(f"insert into {self.qualified(AUDIT_TABLE)} values ({marks})", values)

    def record(self, audit: AuditRow) -> None:
        self._insert_audit(audit)

    def query(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def close(self) -> None:
        self.con.close()
