"""Tableau extract of the largest mart, ``fct_order_lines``, against a plain Hyper ``COPY`` of the
same rows from Parquet.

A landing zone of ``DAYS`` days at ``scale`` (10 by default; ~31,000 order lines a day) is
generated, loaded into a DuckDB bronze by the production loader, and the mart built by dbt
(``+fct_order_lines``: its staging and intermediate models and dims; no tests). Then, each the median of
3 runs:

* **plain COPY**: the rows are already in a Parquet file (written by DuckDB beforehand, not
  timed) and a Hyper process is running; timed: a new ``.hyper`` file, ``CREATE TABLE``,
  ``COPY ... FROM ... WITH (FORMAT PARQUET)``. The floor for any extract through Parquet.
* **extract**: ``bi.extract.refresh(--tables fct_order_lines --full)``, the time the manifest
  records for the table: everything the extract does for it (per-day row counts, sums and
  fingerprints computed by DuckDB, the Parquet export, the Hyper ``COPY``, Hyper's recount and
  sums checked against DuckDB's, the rename). The command's wall time, Hyper start-up included,
  is shown beside it.
* **one day changed**: a tenth of one day's lines deleted in the mart, then the refresh that
  replaces that day in the file.

The work folder is under ``.local/bench/`` (``BENCH_DIR``) and is removed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from data_generator import generate
from ingestion.backends.duckdb import DuckDBBackend
from ingestion.config import Settings
from ingestion.landing import discover
from ingestion.loader import load_files

from .dbt_build import _bench_dir, dbt
from .table import table

START = date(2026, 1, 1)
DAYS = 30
SEED = 42
RUNS = 3
TABLE = "fct_order_lines"


def _build(folder: Path, scale: float, days: int) -> tuple[Path, Path]:
    landing, db, work = folder / "landing", folder / "warehouse.duckdb", folder / "dbt"
    generate(START, days, scale, SEED, landing)
    with DuckDBBackend(db) as backend:
        report = load_files(backend, discover(landing))
    if report.failed:
        raise RuntimeError(f"load failed: {[f.file.name for f in report.failed]}")
    dbt(
        work,
        db,
        "build",
        "--select",
        f"+{TABLE}",
        "--exclude-resource-type",
        "test",
        "--exclude-resource-type",
        "unit_test",
    )
    return db, work / "target" / "manifest.json"


def _plain_copy(process, parquet: Path, table, folder: Path) -> float:
    """Seconds for a new .hyper file with the table, filled by one COPY from the Parquet file."""
    from tableauhyperapi import Connection, CreateMode, SchemaName, escape_string_literal

    from bi.hyper import SCHEMA, table_definition

    path = folder / f"plain-{uuid.uuid4().hex[:6]}.hyper"
    definition = table_definition(table)
    began = time.perf_counter()
    with Connection(process.endpoint, str(path), CreateMode.CREATE_AND_REPLACE) as con:
        con.catalog.create_schema(SchemaName(SCHEMA))
        con.catalog.create_table(definition)
        con.execute_command(
            f"COPY {definition.table_name} FROM {escape_string_literal(str(parquet))} "
            "WITH (FORMAT PARQUET)"
        )
    seconds = time.perf_counter() - began
    path.unlink()
    return seconds


def bench(scale: float = 10.0, days: int = DAYS) -> list[tuple[str, str, str]]:
    folder = _bench_dir() / f"bi-scale{scale:g}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        began = time.perf_counter()
        db, manifest = _build(folder, scale, days)
        build_seconds = time.perf_counter() - began
        label = f"{TABLE}, scale {scale:g}, {days} days"
        rows = measure(db, manifest, folder, label)
        return [
            (f"build the mart ({label})", f"{build_seconds:.0f} s", "generate, load, dbt"),
            *rows,
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            _bench_dir().rmdir()  # only if empty: other benchmarks may share it


def measure(db: Path, manifest: Path, folder: Path, label: str) -> list[tuple[str, str, str]]:
    """The figures on a built warehouse: plain COPY and full extract alternately, ``RUNS``
    times each, then the refresh after one changed day (which changes the warehouse)."""
    import duckdb

    from bi.extract import refresh
    from bi.hyper import hyper_process
    from bi.marts import DuckDBSource, discover

    settings = Settings.from_env({"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(db)})
    out = folder / "extracts"
    with DuckDBSource(settings) as source:
        (table,), _ = discover(source, manifest, [TABLE])
        parquet = folder / f"{TABLE}.parquet"
        rows = source.export(table, parquet)
    size_mb = parquet.stat().st_size / 1e6
    plain, extracts, walls, steps = [], [], [], []
    try:
        with (
            tempfile.TemporaryDirectory(dir=folder) as logs,
            hyper_process(Path(logs)) as process,
        ):
            _plain_copy(process, parquet, table, folder)  # warm-up: file cache, Hyper's first COPY
            for _ in range(RUNS):  # alternately: both see the same machine load
                plain.append(_plain_copy(process, parquet, table, folder))
                began = time.perf_counter()
                with DuckDBSource(settings) as source:
                    result = refresh(out, [TABLE], full=True, dbt_manifest=manifest, source=source)
                walls.append(time.perf_counter() - began)
                entry = result["extracts"][TABLE]
                if entry["rows"] != rows:
                    raise RuntimeError(f"the extract has {entry['rows']} rows, the mart {rows}")
                extracts.append(entry["seconds"])
                steps.append(entry["seconds_by_step"])
    finally:
        parquet.unlink(missing_ok=True)

    # one day changed in the mart, then the refresh that replaces it
    with duckdb.connect(str(db)) as con:
        day = con.execute(f"select max(ordered_date) - 3 from marts.{TABLE}").fetchall()[0][0]
        con.execute(
            f"delete from marts.{TABLE} where ordered_date = ? and order_line_id % 10 = 0", [day]
        )
    with DuckDBSource(settings) as source:
        result = refresh(out, [TABLE], dbt_manifest=manifest, source=source)
    entry = result["extracts"][TABLE]
    if entry["mode"] != "incremental" or entry["refreshed_days"] != [day.isoformat()]:
        raise RuntimeError(f"expected one day refreshed, got {entry['mode']}: {entry}")
    incremental = entry["seconds"]

    floor, ours = statistics.median(plain), statistics.median(extracts)
    step = sorted(steps, key=lambda s: sum(s.values()))[len(steps) // 2]
    return [
        (
            f"plain Hyper COPY from Parquet ({label})",
            f"{floor:.2f} s",
            f"median of {RUNS}; {rows:,} rows, Parquet {size_mb:.0f} MB",
        ),
        (
            f"bi extract --full ({label})",
            f"{ours:.2f} s",
            f"median of {RUNS}; "
            + ", ".join(f"{k} {v:.2f}s" for k, v in step.items())
            + f"; command {statistics.median(walls):.2f} s with Hyper start-up",
        ),
        ("extract / plain COPY", f"{ours / floor:.2f}x", "target <= 1.5x"),
        (
            f"bi extract after one day changed ({label})",
            f"{incremental:.2f} s",
            f"{entry['rows_replaced']:,} rows replaced in place; "
            f"{incremental / ours:.0%} of the full extract",
        ),
    ]


def run(full: bool = True) -> list[tuple[str, str, str]]:
    """Scale 10 (scale 1 when not ``full``), ``DAYS`` days."""
    return bench(10.0 if full else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bi", description=__doc__)
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--days", type=int, default=DAYS)
    args = parser.parse_args()
    print(table("Tableau extract vs plain Hyper COPY", bench(args.scale, args.days)))


if __name__ == "__main__":
    main()
