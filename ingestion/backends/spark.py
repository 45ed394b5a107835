"""Spark warehouse: a local pyspark session with a Hive metastore under ``.local/spark/``.

The file is parsed and validated by an in-memory DuckDB, which writes the good rows as Parquet;
Spark reads that and inserts it into the bronze table. Bronze tables are Parquet, partitioned by
``_source_file``, and each file is written with *dynamic partition overwrite*: a load replaces its
own file's partition in one Spark job commit. Spark has no transaction spanning the data, rejects
and audit tables, so atomicity is per table: a crash after the rows but before the audit row
leaves the file unaudited, and the next run loads it again, *replacing* (not duplicating) its
rows and rejects. Settings: ``SPARK_WAREHOUSE_DIR`` (default ``.local/spark/warehouse``) and
``SPARK_METASTORE_DIR`` (default ``.local/spark/metastore``).

The local metastore (embedded Derby) admits one process at a time, so the loader holds a lock file
next to it (``<metastore>.lock``) for as long as its session lives; a second loader waits up to
``SPARK_LOCK_TIMEOUT`` seconds (default 300), then fails naming the holder's PID. Inside the lock
the loader checks again whether a file's content is already loaded, so two loaders started at once
load each file once. A new version of a file name drops the old version's partitions (rows and
rejects) before its own rows are written, and marks the old audit row ``superseded`` (the audit
table is rewritten; it is small).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import ClassVar

from platform_core.settings import current

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
        self.spark = spark_session(env)
        super().__init__(schema)
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

    def already_loaded(self, table: str, sha256: str, file_path: str | None = None) -> bool:
        rows = self.spark.sql(
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = :table "
            "and sha256 = :sha and status = 'loaded' and file_path = coalesce(:path, file_path)",
            args={"table": table, "sha": sha256, "path": file_path},
        ).collect()
        return bool(rows[0][0])

    def audit_exists(self, table: str, file_path: str, status: str) -> bool:
        rows = self.spark.sql(
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = :table "
            "and file_path = :path and status = :status",
            args={"table": table, "path": file_path, "status": status},
        ).collect()
        return bool(rows[0][0])

    def load(self, parsed: ParsedFile, audit: AuditRow) -> str:
        import pyarrow.parquet as pq

        table = parsed.contract.name
        name = parsed.file.name
        if self.already_loaded(table, audit.sha256, None if parsed.rows_read else name):
            audit.status, audit.message = "skipped", "same sha256 loaded meanwhile"
            audit.rows_loaded = audit.rows_rejected = 0
            self.record(audit)
            return "skipped"
        superseded = self.audit_exists(table, name, "loaded")
        if superseded:
            for target, column in ((table, "_source_file"), (REJECTS_TABLE, "file_path")):
                self.spark.sql(
                    f"alter table {self.qualified(target)} drop if exists "
                    f"partition ({column} = :name)",
                    args={"name": name},
                )
        rows_path = self.staging / f"{table}-rows.parquet"
        # the bronze table's column order: insertInto is positional
        names = [
            *parsed.contract.column_names,
            *(c for c, _ in META_COLUMNS if c != "_source_file"),
            "_source_file",
        ]
        reader = self.good_rows(parsed, audit)
        with pq.ParquetWriter(rows_path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
        frame = self.spark.read.parquet(str(rows_path)).select(*names)
        if parsed.rows_loaded:
            frame.write.insertInto(self.qualified(table), overwrite=True)
        loaded = self.spark.sql(
            f"select count(*) from {self.qualified(table)} where _source_file = :name",
            args={"name": name},
        ).collect()[0][0]
        if loaded != parsed.rows_loaded:
            raise RuntimeError(
                f"{parsed.file.path}: {loaded} rows in bronze, expected {parsed.rows_loaded}"
            )
        if parsed.rejects:
            cols = [c for c, _ in REJECT_COLUMNS]
            rows = [
                dict(zip(cols, r, strict=True))
                for r in self.reject_rows(parsed, audit.batch_id, audit.started_at)
            ]
            order = [c for c in cols if c != "file_path"] + ["file_path"]
            reject_frame = self.spark.createDataFrame(
                [[r[c] for c in order] for r in rows],
                schema=", ".join(f"{c} {self.sql_type(dict(REJECT_COLUMNS)[c])}" for c in order),
            )
            reject_frame.write.insertInto(self.qualified(REJECTS_TABLE), overwrite=True)
        failpoint("before_commit")
        if superseded:
            self._mark_superseded(table, name)
        self.record(audit)
        rows_path.unlink(missing_ok=True)
        return "loaded"

    def _mark_superseded(self, table: str, file_path: str) -> None:
        """Rewrite the (small) audit table with the earlier version's row marked superseded."""
        audit = self.qualified(AUDIT_TABLE)
        rows = [
            [
                "superseded"
                if (
                    c == "status"
                    and r["table_name"] == table
                    and r["file_path"] == file_path
                    and r["status"] == "loaded"
                )
                else r[c]
                for c, _ in AUDIT_COLUMNS
            ]
            for r in self.spark.table(audit).collect()
        ]
        schema = ", ".join(f"{c} {self.sql_type(t)}" for c, t in AUDIT_COLUMNS)
        self.spark.createDataFrame(rows, schema=schema).write.insertInto(audit, overwrite=True)

    def record(self, audit: AuditRow) -> None:
        schema = ", ".join(f"{c} {self.sql_type(t)}" for c, t in AUDIT_COLUMNS)
        self.spark.createDataFrame(
            [list(self.audit_values(audit))], schema=schema
        ).write.insertInto(self.qualified(AUDIT_TABLE))

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
