"""DuckDB warehouse: the default, a single file under ``.local/``.

The file is parsed inside the warehouse connection, so good rows go from the reader to the bronze
table without leaving the engine. DuckDB allows one writing process at a time: opening a file that
another process holds waits up to ``DUCKDB_LOCK_TIMEOUT`` seconds (default 120), then fails naming
the process that holds it. Within this process, loads of one table are serialised by a lock.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from ..config import Settings
from ..contracts import CONTRACTS
from ..landing import FileCheck, LandingFile
from ..parse import ParsedFile, parse_file, quote_ident
from .base import (
    AUDIT_TABLE,
    META_PARAMS_SQL,
    REJECT_COLUMNS,
    REJECTS_TABLE,
    AuditRow,
    Backend,
    QueryTimeout,
    TooManyRows,
    Warehouse,
    WarehouseBusy,
    failpoint,
    timed_out,
    too_many,
)

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
DEFAULT_LOCK_TIMEOUT = 120.0
_table_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()


class WarehouseLocked(RuntimeError):
    """The DuckDB file is held by another process for longer than the lock timeout."""


def lock_timeout(env: dict[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    value = env.get("DUCKDB_LOCK_TIMEOUT", "")
    try:
        return float(value) if value else DEFAULT_LOCK_TIMEOUT
    except ValueError:
        raise ValueError(f"DUCKDB_LOCK_TIMEOUT={value!r} is not a number of seconds") from None


def connect(
    path: Path | str, read_only: bool = False, timeout: float | None = None, config=None
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, waiting while another process holds its lock.

    DuckDB lets one process write a file (and no other process read it meanwhile). When the lock
    is held elsewhere this retries for ``timeout`` seconds (``DUCKDB_LOCK_TIMEOUT``), then raises
    ``WarehouseLocked`` with DuckDB's own words, which name the holder's program and PID."""
    timeout = lock_timeout() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" not in message.lower() or time.monotonic() >= deadline:
                if "lock" in message.lower():
                    raise WarehouseLocked(
                        f"warehouse {path} is locked by another process after waiting "
                        f"{timeout:.0f}s (DUCKDB_LOCK_TIMEOUT): {message.splitlines()[0]}"
                    ) from None
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def set_resources(con: duckdb.DuckDBPyConnection, resources: dict[str, str] | None) -> None:
    """``SET`` DuckDB's memory limit, threads and spill directory (``Settings.duckdb_config``,
    validated there) on a connection. They are set after connecting, not as connection
    config, so that the platform's own connections to a file in one process always agree:
    DuckDB refuses a second connection whose config differs from one already open in the
    process. dbt's connection is opened with the same values as config options
    (``profiles.yml``, set once rather than on every node's cursor); the platform closes it
    after each in-process dbt command (``platform_core.dbt_runner.release_warehouse``)."""
    for name, value in (resources or {}).items():
        if name not in ("memory_limit", "threads", "temp_directory"):
            raise ValueError(f"{name} is not a DuckDB resource setting")
        quoted = str(value).replace("'", "''")
        con.execute(f"set {name} = '{quoted}'")


def _first(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _fatal(con) -> bool:
    """Whether DuckDB invalidated the database (after an I/O error such as a full disk)."""
    try:
        con.execute("select 1").fetchall()
        return False
    except duckdb.FatalException:
        return True
    except duckdb.Error:
        return False


def _table_lock(path: Path, table: str) -> threading.Lock:
    with _guard:
        return _table_locks.setdefault((str(path.resolve()), table), threading.Lock())


class DuckDBBackend(Backend):
    name = "duckdb"
    overlap = True

    def __init__(
        self,
        path: Path | str,
        schema: str = "bronze",
        timeout: float | None = None,
        resources: dict[str, str] | None = None,
    ):
        super().__init__(schema)
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = connect(path, timeout=timeout)
        set_resources(self.con, resources)
        self.broken: str | None = None  # set when DuckDB invalidated the database
        self._writer: duckdb.DuckDBPyConnection | None = None

    def ensure_schema(self) -> None:
        for statement in self.ddl():
            self.con.execute(statement)

    def _already_loaded_sql(self) -> str:
        return (
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = ? "
            "and sha256 = ? and status = 'loaded' and file_path = coalesce(?, file_path)"
        )

    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        return bool(
            self.con.execute(self._already_loaded_sql(), [table, sha256, file_path]).fetchall()[0][
                0
            ]
        )

    def audit_exists(self, table: str, file_path: str, status: str) -> bool:
        return bool(
            self.con.execute(
                f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = ? "
                "and file_path = ? and status = ?",
                [table, file_path, status],
            ).fetchall()[0][0]
        )

    def parse(self, file: LandingFile, check: FileCheck, data: bytes) -> ParsedFile:
        return parse_file(self.con, file, CONTRACTS[file.table], check, data)

    def load(self, parsed: ParsedFile, audit: AuditRow) -> str:
        return self._load(self.con, parsed, audit)

    def writer_load(self, parsed: ParsedFile, audit: AuditRow) -> str:
        """``load`` on a connection of its own (a cursor of the same database), from the
        loader's writer thread while the main connection checks and parses the next file.
        Only a fast-path file can be written there: its good rows are an Arrow table, which the
        writer registers under the same name (a checked file's rows are temporary tables of the
        main connection, which ``load`` writes)."""
        if parsed.arrow is None:
            raise ValueError(f"{parsed.file.path}: only a fast-path file is written by the writer")
        if self._writer is None:
            self._writer = self.con.cursor()
        con = self._writer
        con.register(parsed.source, parsed.arrow)
        try:
            return self._load(con, parsed, audit)
        finally:
            try:  # the load's own outcome comes first; say why the view stayed
                con.unregister(parsed.source)
            except duckdb.FatalException:
                pass  # the database is gone (the load's error says why), its views with it
            except duckdb.Error as exc:
                print(f"warning: cleanup after {parsed.file.name}: {_first(exc)}",
                      file=sys.stderr)  # fmt: skip

    def _load(self, con, parsed: ParsedFile, audit: AuditRow) -> str:
        table = parsed.contract.name
        cols = ", ".join(quote_ident(c) for c in self.load_columns(table))
        rows = self.reject_rows(parsed, audit.batch_id, audit.started_at)
        rejects = (
            pa.table(
                {name: [r[i] for r in rows] for i, (name, _) in enumerate(REJECT_COLUMNS)},
                schema=REJECTS_SCHEMA,
            )
            if rows
            else None
        )
        empty_name = None if parsed.rows_read else parsed.file.name
        with _table_lock(self.path, table):
            con.begin()
            try:
                if con.execute(
                    self._already_loaded_sql(), [table, audit.sha256, empty_name]
                ).fetchall()[0][0]:
                    audit.status, audit.message = "skipped", "same sha256 loaded meanwhile"
                    audit.rows_loaded = audit.rows_rejected = 0
                    self._insert_audit(audit, con)
                    con.commit()
                    return "skipped"
                self._supersede(con, table, parsed.file.name)
                inserted = con.execute(
                    f"insert into {self.qualified(table)} ({cols}) "
                    f"{parsed.select(META_PARAMS_SQL)}",
                    self.meta_params(audit, parsed.file),
                ).fetchall()[0][0]
                if inserted != parsed.rows_loaded:
                    raise RuntimeError(
                        f"{parsed.file.path}: inserted {inserted} rows, "
                        f"expected {parsed.rows_loaded}"
                    )
                if rejects is not None:
                    con.register("_rejects_batch", rejects)
                    con.execute(
                        f"insert into {self.qualified(REJECTS_TABLE)} select * from _rejects_batch"
                    )
                    con.unregister("_rejects_batch")
                self._insert_audit(audit, con)
                failpoint("before_commit")
                con.commit()
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):  # the load's own error is reported
                    con.rollback()
                if isinstance(exc, duckdb.FatalException) or _fatal(con):
                    self.broken = _first(exc)
                raise
        return "loaded"

    def _supersede(self, con, table: str, file_path: str) -> None:
        """Remove the rows of an earlier loaded version of ``file_path``; mark it superseded."""
        previous = con.execute(
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = ? "
            "and file_path = ? and status = 'loaded'",
            [table, file_path],
        ).fetchall()[0][0]
        if previous:
            con.execute(f"delete from {self.qualified(table)} where _source_file = ?", [file_path])
            con.execute(
                f"update {self.qualified(AUDIT_TABLE)} set status = 'superseded' "
                "where table_name = ? and file_path = ? and status = 'loaded'",
                [table, file_path],
            )

    def _insert_audit(self, audit: AuditRow, con=None) -> None:
        values = self.audit_values(audit)
        marks = ", ".join("?" for _ in values)
        (con or self.con).execute(
            f"insert into {self.qualified(AUDIT_TABLE)} values ({marks})", values
        )

    def record(self, audit: AuditRow) -> None:
        self._insert_audit(audit)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.con.close()


class DuckDBWarehouse(Warehouse):
    """Marts read and result tables written on the DuckDB file (one writer per file: it waits
    for another process's lock, as the loader does)."""

    target, mark = "duckdb", "?"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        self._con = connect(settings.duckdb_path)
        set_resources(self._con, settings.duckdb_config)

    def frame(self, sql, params=None):
        return self._con.execute(sql, params or []).df()

    def rows(self, sql):
        return self._con.execute(sql).fetchall()

    def execute(self, sql):
        self._con.execute(sql)

    def _write(self, df, schema, table, replace, replace_where) -> int:
        qualified, con = f"{schema}.{table}", self._con
        con.execute("begin")
        try:
            con.execute(f"create schema if not exists {schema}")
            if replace:
                con.execute(f"drop table if exists {qualified}")
            con.register("_frame_to_write", df)
            con.execute(
                f"create table if not exists {qualified} as select * from _frame_to_write limit 0"
            )
            if replace_where is not None:
                where, params = self._where(replace_where)
                con.execute(f"delete from {qualified} where {where}", params)
            columns = ", ".join(str(c) for c in df.columns)
            con.execute(
                f"insert into {qualified} ({columns}) select {columns} from _frame_to_write"
            )
            con.unregister("_frame_to_write")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        return len(df)

    def _swap(self, schema, staged, table) -> None:
        con = self._con
        con.execute("begin")
        try:
            con.execute(f"drop table if exists {schema}.{table}")
            con.execute(f"alter table {schema}.{staged} rename to {table}")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise

    def close(self) -> None:
        self._con.close()


def backend(settings: Settings) -> DuckDBBackend:
    return DuckDBBackend(settings.duckdb_path, settings.schema, resources=settings.duckdb_config)


def warehouse(settings: Settings) -> DuckDBWarehouse:
    return DuckDBWarehouse(settings)


_CATALOG = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def read_only(settings: Settings, sql: str, *, timeout: float, max_rows: int, catalog: str | None):
    """``sql`` on the DuckDB file opened read-only, as an Arrow table (the metrics API's reader).

    The file is attached read-only into an in-memory database under ``catalog`` (the name dbt's
    relations use for it), file access is then switched off (no ``read_csv('/etc/passwd')``) and
    the configuration locked. The file is held only while the query runs; while a writer holds
    it this raises :class:`WarehouseBusy`. A timer interrupts a query after ``timeout`` seconds."""
    path = settings.duckdb_path
    catalog = catalog or path.stem
    if not _CATALOG.fullmatch(catalog):
        raise ValueError(f"catalog {catalog!r} (from the semantic manifest) is not a name")
    if not path.is_file():
        raise FileNotFoundError(
            f"the DuckDB warehouse {path} does not exist: build it (make run) or set DUCKDB_PATH"
        )
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach ? as {catalog} (read_only)", [str(path)])
    except duckdb.Error as exc:
        con.close()
        if "lock" in str(exc).lower():
            raise WarehouseBusy(
                f"the warehouse {path.name} is being written (a dbt build or a load holds it); "
                "answers already cached are still served, others can be asked again in a few "
                f"seconds. DuckDB said: {exc}"
            ) from exc
        raise
    con.execute(f"use {catalog}")
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    timer = threading.Timer(timeout, con.interrupt)
    timer.start()
    try:
        reader = con.sql(sql).to_arrow_reader(batch_size=max_rows + 1)
        batches, rows = [], 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > max_rows:
                raise TooManyRows(too_many(max_rows))
        return pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.InterruptException as exc:
        raise QueryTimeout(timed_out(timeout)) from exc
    finally:
        timer.cancel()
        con.close()
