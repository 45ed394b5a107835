"""Spark warehouse: a local pyspark session with a Hive metastore under ``.local/spark/``.

Each file is parsed and validated by an in-memory DuckDB, which writes its good rows as Parquet
into a staging folder of its table. ``load_files`` then writes the files of one table together
(up to ``SPARK_LOAD_BATCH_FILES``, default 500): one Spark job inserts all their rows into the
bronze table, one counts them back per file, one writes the rejects and one the audit rows.
Loading file by file cost those jobs for every file, and each audit row added files to the
audit table that every later check read again: a year of landing files could not be loaded.

Bronze tables are Parquet, partitioned by ``_source_file``, written with *dynamic partition
overwrite*: a write replaces the partitions of its own files only. Spark has no transaction
spanning the data, rejects and audit tables, so atomicity is per table write: a crash after the
rows but before the audit rows leaves the files unaudited, and the next run loads them again,
*replacing* (not duplicating) their rows and rejects. Settings: ``SPARK_WAREHOUSE_DIR`` (default
``.local/spark/warehouse``) and ``SPARK_METASTORE_DIR`` (default ``.local/spark/metastore``).

The local metastore (embedded Derby) admits one process at a time, so the loader holds a lock file
next to it (``<metastore>.lock``) for as long as its session lives; a second loader waits up to
``SPARK_LOCK_TIMEOUT`` seconds (default 300), then fails naming the holder's PID. The audit is
read once the lock is held and kept in step with this process's writes, so two loaders started at
once load each file once. A new version of a file name drops the old version's partitions (rows
and rejects) before its own rows are written, and marks the old audit row ``superseded`` (the
audit table is rewritten; it is small).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import ClassVar

from platform_core.settings import current

from ..contracts import (
    BIGINT,
    BOOLEAN,
    CONTRACTS,
    DATE,
    INTEGER,
    TIMESTAMP,
    VARCHAR,
    decimal_parts,
)
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
    _plain,
    engine_module,
    failpoint,
    translate,
)

_session_lock: int | None = None  # fd of the held lock file, for the life of this process


def _metastore(env: dict[str, str]) -> Path:
    return current(env).spark_metastore_dir


def hold_session_lock(env: dict[str, str] | None = None) -> None:
    """Take the local metastore's lock file for this process (waiting for another holder)."""
    global _session_lock
    if _session_lock is not None:
        return
    env = dict(os.environ if env is None else env)
    path = _metastore(env).resolve().with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    timeout = float(current(env).get("SPARK_LOCK_TIMEOUT"))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RuntimeError(
                    f"the local Spark metastore {path.with_suffix('')} is in use by process "
                    f"{holder} after waiting {timeout:.0f}s (SPARK_LOCK_TIMEOUT)"
                ) from None
            time.sleep(0.5)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _session_lock = fd


def spark_session(env: dict[str, str] | None = None):
    """The local session every Spark part of the platform shares (same warehouse, metastore)."""
    SparkSession = engine_module("pyspark.sql", "spark", "pyspark").SparkSession
    env = dict(os.environ if env is None else env)
    settings = current(env)
    warehouse = settings.spark_warehouse_dir
    metastore = _metastore(env)
    metastore.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(
        "SPARK_LOCAL_IP", settings.get("SPARK_LOCAL_IP")
    )  # local session: loopback only
    return (
        SparkSession.builder.master(settings.get("SPARK_MASTER"))
        .appName("analytics-platform")
        .config("spark.sql.warehouse.dir", str(warehouse.resolve()))
        .config("spark.sql.catalogImplementation", "hive")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore.resolve()};create=true",
        )
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.hive.metastorePartitionPruningFallbackOnException", "true")
        .config("spark.ui.enabled", "false")
        .config(
            "spark.driver.extraJavaOptions", f"-Dderby.system.home={metastore.parent.resolve()}"
        )
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", str(settings.get("SPARK_SHUFFLE_PARTITIONS")))
        .enableHiveSupport()
        .getOrCreate()
    )


class SparkBackend(ExportingBackend):
    name = "spark"
    types: ClassVar[dict[str, str]] = {
        BIGINT: "bigint",
        INTEGER: "int",
        VARCHAR: "string",
        BOOLEAN: "boolean",
        DATE: "date",
        TIMESTAMP: "timestamp",
    }

    def __init__(self, schema: str = "bronze", env: dict[str, str] | None = None):
        hold_session_lock(env)
        self.env = dict(os.environ if env is None else env)
        self.spark = spark_session(env)
        super().__init__(schema)
        self._audit: list[list] | None = None  # (table, file, sha256, status) of every audit row
        self._chunks: dict[str, dict] = {}  # table -> what ``stage``/``defer`` kept for ``commit``
        self.spark.sparkContext.setLogLevel("ERROR")

    # bronze tables: partition column last, as Spark stores it
    def ddl(self) -> list[str]:
        out = [f"create database if not exists {self.schema}"]
        for name, contract in CONTRACTS.items():
            cols = [(c.name, c.type) for c in contract.columns]
            cols += [(c, t) for c, t in META_COLUMNS if c != "_source_file"]
            out.append(self._partitioned(name, [*cols, ("_source_file", VARCHAR)], "_source_file"))
        out.append(self._partitioned(AUDIT_TABLE, list(AUDIT_COLUMNS), None))
        rejects = [c for c in REJECT_COLUMNS if c[0] != "file_path"] + [("file_path", VARCHAR)]
        out.append(self._partitioned(REJECTS_TABLE, rejects, "file_path"))
        return out

    def _partitioned(self, table, columns, partition) -> str:
        body = ", ".join(f"{c} {self.sql_type(t)}" for c, t in columns)
        part = f" partitioned by ({partition})" if partition else ""
        return f"create table if not exists {self.qualified(table)} ({body}) using parquet{part}"

    def ensure_schema(self) -> None:
        for statement in self.ddl():
            self.spark.sql(statement)

    # ------------------------------------------------------------------ the audit, in memory
    # The process holds the metastore's lock for as long as its session lives, so no other
    # loader writes the audit meanwhile: it is read once, then kept in step with this process's
    # own writes. Each check used to be a Spark job over every audit file.
    def _audit_rows(self) -> list[list]:
        if self._audit is None:
            self._audit = [
                [r["table_name"], r["file_path"], r["sha256"], r["status"]]
                for r in self.spark.table(self.qualified(AUDIT_TABLE))
                .select("table_name", "file_path", "sha256", "status")
                .collect()
            ]
        return self._audit

    def _remember(self, audit: AuditRow) -> None:
        self._audit_rows().append([audit.table_name, audit.file_path, audit.sha256, audit.status])

    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        return any(
            t == table and sha == sha256 and status == "loaded" and path == (file_path or path)
            for t, path, sha, status in self._audit_rows()
        )

    def audit_exists(self, table: str, file_path: str, status: str) -> bool:
        return any(
            t == table and path == file_path and s == status for t, path, _, s in self._audit_rows()
        )

    # ------------------------------------------------------------------ loading, in bulk
    # ``ingestion.loader.load_files`` stages the files of one table (``stage``, ``defer``), then
    # writes them with one ``commit``: one Spark job for all their rows (dynamic partition
    # overwrite, one partition per file), one for the row counts, one for the rejects and one
    # for the audit rows.
    bulk = True

    @property
    def bulk_files(self) -> int:
        return int(current(self.env).get("SPARK_LOAD_BATCH_FILES"))

    def _pending(self, table: str) -> dict:
        if table not in self._chunks:
            folder = self.staging / f"{table}-rows"
            folder.mkdir()
            self._chunks[table] = {
                "folder": folder,
                "rows": {},
                "superseded": [],
                "rejects": [],
                "audits": [],
            }
        return self._chunks[table]

    def defer(self, audit: AuditRow) -> None:
        """An audit row (a skipped or failed file) written with the table's next commit."""
        self._pending(audit.table_name)["audits"].append(audit)
        self._remember(audit)

    def stage(self, parsed: ParsedFile, audit: AuditRow) -> None:
        """Write the file's good rows to the table's staging folder and keep its rejects and
        audit row for ``commit``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table, name = parsed.contract.name, parsed.file.name
        chunk = self._pending(table)
        superseded = self.audit_exists(table, name, "loaded")
        rejects = self.reject_rows(parsed, audit.batch_id, audit.started_at)
        path = chunk["folder"] / f"{len(chunk['rows']):06d}.parquet"
        if parsed.rows_loaded:
            # written under a hidden name (Spark skips names starting with "."), then renamed:
            # a file that fails here leaves nothing the commit would read
            hidden = path.with_name("." + path.name)
            schema = self._arrow_schema(table)
            with pq.ParquetWriter(hidden, schema) as writer:
                for batch in self.good_rows(parsed, audit):  # one schema for all: Spark reads
                    table_part = pa.Table.from_batches([batch]).select(schema.names)
                    writer.write_table(table_part.cast(schema))
            hidden.rename(path)
        if superseded:
            chunk["superseded"].append(name)
        chunk["rows"][name] = parsed.rows_loaded
        chunk["rejects"].extend(rejects)
        chunk["audits"].append(audit)
        self._remember(audit)

    def _arrow_schema(self, table: str):
        import pyarrow as pa

        kinds = {
            BIGINT: pa.int64(), INTEGER: pa.int32(), VARCHAR: pa.string(),
            BOOLEAN: pa.bool_(), DATE: pa.date32(), TIMESTAMP: pa.timestamp("us"),
        }  # fmt: skip

        def arrow(type_: str):
            parts = decimal_parts(type_)
            return pa.decimal128(*parts) if parts else kinds[type_]

        columns = [(c.name, c.type) for c in CONTRACTS[table].columns]
        columns += [("_source_line", BIGINT)]
        columns += [(c, t) for c, t in META_COLUMNS if c != "_source_line"]
        return pa.schema([(c, arrow(t)) for c, t in columns])

    def commit(self, table: str) -> None:
        """Write what ``stage`` and ``defer`` kept for ``table``; raise, naming the file, if the
        rows written differ from the rows staged."""
        from pyspark.sql import functions as F

        chunk = self._chunks.get(table)
        if chunk is None:
            return
        rows, names = chunk["rows"], list(chunk["rows"])
        # a new version of a file name, or a file whose rows an interrupted run wrote but did
        # not audit, and that now has no good row: its old partitions go first (with rows, the
        # dynamic overwrite below replaces them)
        for name in sorted({*chunk["superseded"], *(n for n in names if not rows[n])}):
            for target, column in ((table, "_source_file"), (REJECTS_TABLE, "file_path")):
                self.spark.sql(
                    f"alter table {self.qualified(target)} drop if exists "
                    f"partition ({column} = :name)",
                    args={"name": name},
                )
        if any(rows.values()):
            order = [f.name for f in self.spark.table(self.qualified(table)).schema]
            frame = self.spark.read.parquet(str(chunk["folder"])).select(*order)
            frame.write.insertInto(self.qualified(table), overwrite=True)
            counted = dict(
                self.spark.table(self.qualified(table))
                .where(F.col("_source_file").isin(names))
                .groupBy("_source_file")
                .count()
                .collect()
            )
            for name in names:
                if counted.get(name, 0) != rows[name]:
                    raise RuntimeError(
                        f"{name}: {counted.get(name, 0)} rows in bronze, expected {rows[name]}"
                    )
        if chunk["rejects"]:
            cols = [c for c, _ in REJECT_COLUMNS]
            order = [c for c in cols if c != "file_path"] + ["file_path"]
            at = [cols.index(c) for c in order]
            self.spark.createDataFrame(
                [[r[i] for i in at] for r in chunk["rejects"]],
                schema=", ".join(f"{c} {self.sql_type(dict(REJECT_COLUMNS)[c])}" for c in order),
            ).write.insertInto(self.qualified(REJECTS_TABLE), overwrite=True)
        failpoint("before_commit")
        if chunk["superseded"]:
            self._mark_superseded(table, chunk["superseded"], chunk["audits"])
        else:
            self._append_audit(chunk["audits"])
        self._drop_chunk(table)

    def discard(self, table: str) -> list[AuditRow]:
        """Forget what was staged for ``table`` after a failed commit; return the deferred audit
        rows (skips and failures) that were to go with it. The in-memory audit is read again."""
        chunk = self._chunks.get(table)
        self._drop_chunk(table)
        self._audit = None
        if chunk is None:
            return []
        staged = set(chunk["rows"])
        return [a for a in chunk["audits"] if a.status != "loaded" or a.file_path not in staged]

    def _drop_chunk(self, table: str) -> None:
        import shutil

        chunk = self._chunks.pop(table, None)
        if chunk is not None:
            shutil.rmtree(chunk["folder"], ignore_errors=True)

    def load(self, parsed: ParsedFile, audit: AuditRow) -> str:
        """One file on its own (``load_files`` uses ``stage`` and ``commit`` for many)."""
        table = parsed.contract.name
        if self.already_loaded(table, audit.sha256, None if parsed.rows_read else parsed.file.name):
            audit.status, audit.message = "skipped", "same sha256 loaded meanwhile"
            audit.rows_loaded = audit.rows_rejected = 0
            self.record(audit)
            return "skipped"
        self.stage(parsed, audit)
        try:
            self.commit(table)
        except BaseException:
            self.discard(table)
            raise
        return "loaded"

    def _mark_superseded(self, table: str, names: list[str], new: list[AuditRow]) -> None:
        """Rewrite the (small) audit table: the earlier versions' rows marked superseded, the
        new rows appended, in one write."""
        audit = self.qualified(AUDIT_TABLE)
        replaced = set(names)
        rows = [
            [
                "superseded"
                if (
                    c == "status"
                    and r["table_name"] == table
                    and r["file_path"] in replaced
                    and r["status"] == "loaded"
                )
                else r[c]
                for c, _ in AUDIT_COLUMNS
            ]
            for r in self.spark.table(audit).collect()
        ]
        rows += [list(self.audit_values(a)) for a in new]
        schema = ", ".join(f"{c} {self.sql_type(t)}" for c, t in AUDIT_COLUMNS)
        self.spark.createDataFrame(rows, schema=schema).write.insertInto(audit, overwrite=True)
        self._audit = None

    def _append_audit(self, audits: list[AuditRow]) -> None:
        if not audits:
            return
        schema = ", ".join(f"{c} {self.sql_type(t)}" for c, t in AUDIT_COLUMNS)
        self.spark.createDataFrame(
            [list(self.audit_values(a)) for a in audits], schema=schema
        ).write.insertInto(self.qualified(AUDIT_TABLE))

    def record(self, audit: AuditRow) -> None:
        self.record_many([audit])

    def record_many(self, audits: list[AuditRow]) -> None:
        """Audit rows on their own, in one write (stray entries; a failed commit's files)."""
        self._append_audit(audits)
        if self._audit is not None:
            for audit in audits:
                self._remember(audit)

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        return [tuple(r) for r in self.spark.sql(sql, args=params).collect()]


def backend(settings) -> SparkBackend:
    """The registry's entry (ingestion/backends/__init__.py): the loader on the local session."""
    return SparkBackend(settings.schema)


class SparkWarehouse(Warehouse):
    """Marts read and result tables written on the local Spark session (the metastore and
    warehouse folders of the settings, the same session dbt-spark and the loader use).

    Spark has no multi-statement transactions: ``write`` with ``replace_where`` keeps the table
    partitioned by that column, drops that one partition and appends the frame, so a reader may
    see the day missing for a moment, never twice. Bound values use ``?`` markers."""

    target, mark = "spark", "?"

    def __init__(self, settings):
        super().__init__(settings)
        hold_session_lock(settings.env)
        self.spark = spark_session(settings.env)
        self.spark.sparkContext.setLogLevel("ERROR")
        self.spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")

    def frame(self, sql, params=None):
        return _pandas(self.spark.sql(spark_sql(sql), args=list(params) if params else None))

    def rows(self, sql):
        return [tuple(row) for row in self.spark.sql(spark_sql(sql)).collect()]

    def execute(self, sql):
        self.spark.sql(spark_sql(sql))

    def table_exists(self, schema, table) -> bool:
        return self.spark.catalog.tableExists(f"{schema}.{table}")

    def columns(self, schema, table) -> list[str]:
        if not self.table_exists(schema, table):
            return []
        return [c.name for c in self.spark.catalog.listColumns(f"{schema}.{table}")]

    def _partitions(self, qualified: str) -> list[str]:
        return [c.name for c in self.spark.catalog.listColumns(qualified) if c.isPartition]

    def _write(self, df, schema, table, replace, replace_where) -> int:
        spark, qualified = self.spark, f"{schema}.{table}"
        column = replace_where[0] if replace_where is not None else None
        spark.sql(f"create database if not exists {schema}")
        if replace:
            spark.sql(f"drop table if exists {qualified}")
        frame = spark.createDataFrame(df) if len(df) else None
        if not spark.catalog.tableExists(qualified):
            if frame is None:
                return 0  # nothing to write, nothing to replace
            writer = frame.select(*_last(list(df.columns), column)).write.format("parquet")
            if column:
                writer = writer.partitionBy(column)
            writer.saveAsTable(qualified)
            return len(df)
        if column is not None:
            if self._partitions(qualified) != [column]:
                raise NotImplementedError(
                    f"{qualified} is not partitioned by {column}: on Spark a replaced slice is a "
                    "partition; drop the table and it is made partitioned on the next write"
                )
            spark.sql(
                f"alter table {qualified} drop if exists partition ({column} = :value)",
                args={"value": _plain(replace_where[1])},
            )
        if frame is not None:
            names = [f.name for f in spark.table(qualified).schema]  # insertInto is positional
            frame.select(*names).write.insertInto(qualified)
        return len(df)


def spark_sql(sql: str) -> str:
    """``sql`` in Spark SQL's words (sqlglot; see ``base.translate``)."""
    return translate(sql, "spark")


def _last(columns: list[str], column: str | None) -> list[str]:
    """``columns`` with ``column`` last (Spark stores the partition column last)."""
    return [c for c in columns if c != column] + ([column] if column else [])


def _pandas(frame):
    """``frame`` as pandas, decimals as floats (as DuckDB's ``.df()`` gives them)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType

    columns = [
        F.col(f"`{f.name}`").cast("double").alias(f.name)
        if isinstance(f.dataType, DecimalType)
        else F.col(f"`{f.name}`")
        for f in frame.schema
    ]
    return frame.select(*columns).toPandas()


def warehouse(settings) -> SparkWarehouse:
    return SparkWarehouse(settings)
