"""The pipeline's load and dbt stages on the local Spark target at one scale, stage by stage.

``python -m benchmarks.scale_spark --scale 1 --days 30``. The same stages as
``benchmarks/scale.py`` (DuckDB) up to the daily build, each the command a person or the DAGs
run, in a process of its own, on a private Spark warehouse and Derby metastore under the work
folder (``SPARK_WAREHOUSE_DIR``, ``SPARK_METASTORE_DIR``):

1. generate ``--days`` daily batches (the streaming generator);
2. load them into bronze (``python -m ingestion load --all`` with ``WAREHOUSE_TARGET=spark``);
3. back-date bronze's ``_loaded_at`` one file a day, the newest yesterday (as a year of daily
   runs would have it), so the incremental facts' look-back reads a week of loads in the daily
   build, not the whole history loaded minutes ago; on Spark it is a rewrite of each bronze
   table (plain Parquet has no ``update``);
4. ``dbt build`` in full (the scheduled selection, every row tested);
5. one more day: generate it and load it;
6. the daily ``dbt build``.

Peak memory: ``os.wait4`` gives the largest *single* process of a stage (its ``ru_maxrss``),
and on Spark the work is in the JVM that pyspark starts below the Python process; so a sampler
also sums the resident sets of the whole process tree (Python, the ``spark-submit`` shell, the
JVM) every half second, and the table shows both. The JVM's heap is ``spark.driver.memory``,
which neither the loader nor profiles.yml sets (Spark's default is 1 GiB); the bench passes
``--driver-memory`` through ``PYSPARK_SUBMIT_ARGS`` (``driver_memory``; an already exported
``PYSPARK_SUBMIT_ARGS`` wins). The sizes of the warehouse's Parquet folders (bronze, marts,
metrics) are measured at the end. The work folder is under ``.local/bench/`` (``BENCH_DIR``)
and is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import sys
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from .dbt_build import _bench_dir
from .scale import BUILD, SEED, START, Stage, _landing_rows, _run

DRIVER_MEMORY = "6g"
SAMPLE_SECONDS = 0.5


# --------------------------------------------------------------------------- process-tree RSS
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree_rss_mib(root: int) -> float:
    """Resident set of every process below ``root`` (not ``root`` itself), in MiB."""
    kids, total = _children(), 0
    todo = list(kids.get(root, []))
    page = resource.getpagesize()
    while todo:
        pid = todo.pop()
        todo.extend(kids.get(pid, []))
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except OSError:
            continue
    return total / (1 << 20)


class TreePeak:
    """The largest sum of resident sets of this process's descendants while the block runs."""

    def __enter__(self) -> TreePeak:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, tree_rss_mib(me))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- warehouse files
def _parquet_files(folder: Path) -> list[Path]:
    """Committed Parquet files below ``folder`` (not Spark's ``_temporary`` or hidden staging)."""
    return [
        p
        for p in folder.rglob("*.parquet")
        if not any(
            part.startswith(".") or part == "_temporary" for part in p.relative_to(folder).parts
        )
    ]


def parquet_rows(folder: Path) -> int:
    """Rows of every Parquet file below ``folder``, from the files' footers."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in _parquet_files(folder))


def folder_sizes(warehouse: Path) -> dict[str, tuple[int, int]]:
    """``{schema: (bytes, Parquet files)}`` of each ``<schema>.db`` folder in the warehouse."""
    out = {}
    for db in sorted(warehouse.glob("*.db")):
        files = _parquet_files(db)
        out[db.name.removesuffix(".db")] = (sum(p.stat().st_size for p in files), len(files))
    return out


def _bronze_rows(warehouse: Path) -> int:
    """Data rows of bronze (not the loader's ``_``-prefixed audit and rejects tables)."""
    bronze = warehouse / "bronze.db"
    if not bronze.is_dir():
        return 0
    return sum(parquet_rows(t) for t in bronze.iterdir() if not t.name.startswith("_"))


# --------------------------------------------------------------------------- back-dating
def backdate_sql(table: str, columns: list[str], shift_days: int) -> list[str]:
    """Statements that set ``table``'s ``_loaded_at`` to 23:00 of its file's day + ``shift_days``.

    Plain Parquet tables have no ``update``, and Spark refuses to overwrite a table it reads
    from, so the rows go through a copy and back (dynamic partition overwrite replaces every
    ``_source_file`` partition)."""
    hours = 23 + 24 * shift_days
    day = "regexp_extract(_source_file, '([0-9]{4}-[0-9]{2}-[0-9]{2})', 1)"
    select = ", ".join(
        f"cast({day} as timestamp) + make_interval(0, 0, 0, 0, {hours}, 0, 0) as _loaded_at"
        if c == "_loaded_at"
        else c
        for c in columns
    )
    copy = f"bronze.__backdate_{table}"
    return [
        f"drop table if exists {copy}",
        f"create table {copy} using parquet as select {select} from bronze.{table}",
        f"insert overwrite table bronze.{table} partition (_source_file) select * from {copy}",
        f"drop table {copy}",
    ]


def backdate_loads(last: date) -> None:
    """Bronze as if loaded one file a day, ``last``'s file yesterday (the Spark session of the
    settings: ``SPARK_WAREHOUSE_DIR``/``SPARK_METASTORE_DIR``)."""
    from ingestion.backends.spark import hold_session_lock, spark_session

    hold_session_lock()
    spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    shift = (date.today() - timedelta(days=1) - last).days
    tables = [
        r.tableName
        for r in spark.sql("show tables in bronze").collect()
        if not r.tableName.startswith("_") and not r.isTemporary
    ]
    for table in tables:
        columns = spark.table(f"bronze.{table}").columns
        for statement in backdate_sql(table, columns, shift):
            spark.sql(statement)
    spark.stop()


# --------------------------------------------------------------------------- the pipeline
def pipeline(
    scale: float, days: int, keep: bool = False, driver_memory: str = DRIVER_MEMORY
) -> tuple[list[Stage], dict[str, tuple[int, int]]]:
    folder = _bench_dir() / f"spark-scale{scale:g}-{uuid.uuid4().hex[:8]}"
    landing, local, logs = folder / "landing", folder / "local", folder / "logs"
    warehouse, metastore = folder / "spark" / "warehouse", folder / "spark" / "metastore"
    day_landing = folder / "landing-next-day"
    for p in (landing, local, logs, warehouse):
        p.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PLATFORM_LOCAL_DIR": str(local),
        "WAREHOUSE_TARGET": "spark",
        "SPARK_WAREHOUSE_DIR": str(warehouse.resolve()),
        "SPARK_METASTORE_DIR": str(metastore.resolve()),
        "LANDING_DIR": str(landing),
        "PII_HASH_KEY": os.environ.get("PII_HASH_KEY") or secrets.token_hex(32),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYSPARK_SUBMIT_ARGS": os.environ.get("PYSPARK_SUBMIT_ARGS")
        or f"--driver-memory {driver_memory} pyspark-shell",
    }
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_LOCATION", "AIRFLOW_HOME", "DUCKDB_PATH"):
        env.pop(name, None)  # under PLATFORM_LOCAL_DIR
    last = START + timedelta(days=days - 1)
    nxt = last + timedelta(days=1)
    gen = ["-m", "data_generator", "--start", START.isoformat(), "--scale", f"{scale:g}"]
    gen += ["--seed", str(SEED), "--quiet"]
    stages: list[Stage] = []

    def stage(name: str, args: list[str], rows=None, what: str = "") -> Stage:
        with TreePeak() as tree:
            s = _run(name, args, env, logs / f"{len(stages) + 1}.log")
        s.tree_mib = tree.peak  # the process tree's, JVM included
        s.rows = rows() if callable(rows) else rows
        s.what = what
        stages.append(s)
        print(
            f"  {name}: {s.seconds:.1f} s, peak tree {s.tree_mib:,.0f} MiB "
            f"(largest process {s.peak_mib:,.0f} MiB)" + (f", {s.rows:,} rows" if s.rows else ""),
            file=sys.stderr,
            flush=True,
        )
        return s

    try:
        stage(
            f"generate {days} days",
            [*gen, "--days", str(days), "--out", str(landing)],
            lambda: _landing_rows(landing),
            "CSV rows written, all tables",
        )
        stage(
            "load bronze",
            ["-m", "ingestion", "load", "--all", "--quiet"],
            lambda: _bronze_rows(warehouse),
            "bronze rows",
        )
        stage(
            "back-date bronze loads",
            ["-m", "benchmarks.scale_spark", "--backdate", last.isoformat()],
            lambda: _bronze_rows(warehouse),
            "bronze rows rewritten",
        )
        stage(
            "dbt build, full",
            [*BUILD, "--vars", "{data_tests_scope: all}"],
            lambda: parquet_rows(warehouse / "marts.db" / "fct_order_lines"),
            "fct_order_lines rows",
        )
        stage(
            "generate one more day",
            [*gen, "--only-day", nxt.isoformat(), "--out", str(day_landing)],
            lambda: _landing_rows(day_landing),
        )
        for path in day_landing.rglob("*"):
            if path.is_file():
                target = landing / path.relative_to(day_landing)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
        before = _bronze_rows(warehouse)
        stage(
            "load one more day",
            ["-m", "ingestion", "load", "--date", nxt.isoformat(), "--quiet"],
            lambda: _bronze_rows(warehouse) - before,
            "bronze rows",
        )
        stage("dbt build, daily", BUILD)
        return stages, folder_sizes(warehouse)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def run(
    scale: float = 10.0, days: int = 365, driver_memory: str = DRIVER_MEMORY
) -> list[tuple[str, str, str]]:
    """Rows of (stage, seconds, note) for load and dbt on Spark at ``scale`` over ``days``."""
    began = time.perf_counter()
    stages, sizes = pipeline(scale, days, driver_memory=driver_memory)
    total = time.perf_counter() - began
    rows = []
    for s in stages:
        note = f"peak RSS {s.tree_mib:,.0f} MiB tree, {s.peak_mib:,.0f} MiB largest process"
        if s.rows:
            note += f"; {s.rows:,} rows ({s.rows / s.seconds:,.0f}/s)"
            if s.what:
                note += f", {s.what}"
        rows.append((s.name, f"{s.seconds:.1f} s", note))
    full = next(s for s in stages if s.name == "dbt build, full")
    daily = next(s for s in stages if s.name == "dbt build, daily")
    rows.append(("daily / full dbt build", f"{daily.seconds / full.seconds:.0%}", ""))
    for schema, (size, files) in sizes.items():
        rows.append((f"{schema} Parquet", f"{size / (1 << 20):,.1f} MiB", f"{files:,} files"))
    peak = max(s.tree_mib for s in stages)
    rows.append(
        (
            f"end to end, scale {scale:g}, {days} days",
            f"{total:.0f} s",
            f"largest stage peak RSS {peak:,.0f} MiB (process tree); driver "
            f"{os.environ.get('PYSPARK_SUBMIT_ARGS') or '--driver-memory ' + driver_memory}",
        )
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_spark", description=__doc__)
    parser.add_argument("--scale", type=float, default=10.0, help="the volume (default 10)")
    parser.add_argument("--days", type=int, default=365, help="days of history (default 365)")
    parser.add_argument(
        "--driver-memory",
        default=DRIVER_MEMORY,
        help=f"the Spark driver's heap, JVM syntax (default {DRIVER_MEMORY})",
    )
    parser.add_argument("--backdate", type=date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.backdate:  # stage 3, in a process of its own
        backdate_loads(args.backdate)
        return
    from .table import table

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    title = f"load and dbt on local Spark at scale {args.scale:g}, {args.days} days, by stage"
    print(table(title, run(args.scale, args.days, args.driver_memory)), flush=True)


if __name__ == "__main__":
    main()
