"""Spark warehouse: a local pyspark session with a Hive metastore under ``.local/spark/``.

The file is parsed and validated by an in-memory DuckDB, which writes the good rows as Parquet;
Spark reads that and inserts it into the bronze table. Bronze tables are Parquet, partitioned by
``_source_file``, and each file is written with *dynamic partition overwrite*: a load replaces its
own file's partition in one Spark job commit. Spark has no transaction spanning the data, rejects
and audit tables, so atomicity is per table: a crash after the rows but before the audit row
leaves the file unaudited, and the next run loads it again, *replacing* (not duplicating) its
rows and rejects. Settings: ``SPARK_WAREHOUSE_DIR`` (default ``.local/spark/warehouse``) and
``SPARK_METASTORE_DIR`` (default ``.local/spark/metastore``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from ..config import ROOT
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
    engine_module,
    failpoint,
)


def spark_session(env: dict[str, str] | None = None):
    """The local session every Spark part of the platform shares (same warehouse, metastore)."""
    SparkSession = engine_module("pyspark.sql", "spark", "pyspark").SparkSession
    env = dict(os.environ if env is None else env)
    warehouse = Path(env.get("SPARK_WAREHOUSE_DIR") or ROOT / ".local" / "spark" / "warehouse")
    metastore = Path(env.get("SPARK_METASTORE_DIR") or ROOT / ".local" / "spark" / "metastore")
    metastore.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local session: loopback only
    return (
        SparkSession.builder.master(env.get("SPARK_MASTER", "local[2]"))
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
        .config("spark.sql.shuffle.partitions", "4")
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
        path_filter = f" and file_path = '{file_path}'" if file_path else ""
        rows = self.spark.sql(
            f"select count(*) from {self.qualified(AUDIT_TABLE)} where table_name = '{table}' "
            f"and sha256 = '{sha256}' and status = 'loaded'{path_filter}"
        ).collect()
        return bool(rows[0][0])

    def load(self, parsed: ParsedFile, audit: AuditRow) -> None:
        table = parsed.contract.name
        rows_path = self.staging / f"{table}-rows.parquet"
        meta = self.meta_select(audit.batch_id, parsed.file, audit.started_at)
        # the bronze table's column order: insertInto is positional
        names = [
            *parsed.contract.column_names,
            *(c for c, _ in META_COLUMNS if c != "_source_file"),
            "_source_file",
        ]
        self.duck.execute(
            f"copy (select {', '.join(names)} from ({parsed.select(meta)})) "
            f"to '{rows_path}' (format parquet)"
        )
        frame = self.spark.read.parquet(str(rows_path))
        frame.write.insertInto(self.qualified(table), overwrite=True)
        loaded = self.spark.sql(
            f"select count(*) from {self.qualified(table)} "
            f"where _source_file = '{parsed.file.name}'"
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
        self.record(audit)
        rows_path.unlink(missing_ok=True)

    def record(self, audit: AuditRow) -> None:
        schema = ", ".join(f"{c} {self.sql_type(t)}" for c, t in AUDIT_COLUMNS)
        self.spark.createDataFrame(
            [list(self.audit_values(audit))], schema=schema
        ).write.insertInto(self.qualified(AUDIT_TABLE))

    def query(self, sql: str) -> list[tuple]:
        return [tuple(r) for r in self.spark.sql(sql).collect()]
