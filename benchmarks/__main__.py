"""``python -m benchmarks [--quick]``: every benchmark, printed as one table.

``--only scale --scale N --days D`` (``make bench-scale``) runs the whole pipeline at one scale
instead, stage by stage (``benchmarks/scale.py``; ``--engine spark``: load and dbt on the local
Spark target, ``benchmarks/scale_spark.py``); ``--only daily --scale N --days D``
(``make bench-daily``) times the daily dbt build after D and after 2 D days of history
(``benchmarks/daily.py``). Neither is part of the default run.

``--quick`` skips the largest runs (the scale-10 generation and dbt build; the extract benchmark
runs at scale 1). Figures are medians of 3 runs where a run takes seconds, single runs where it
takes a minute.
"""

from __future__ import annotations

import argparse
import os
import platform

from . import (
    api,
    bi,
    dags,
    daily,
    dbt_build,
    generator,
    ingestion,
    ml_drift,
    quality_monitors,
    scale,
)
from .table import table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the scale-10 runs")
    parser.add_argument(
        "--only",
        choices=[
            "generator",
            "ingestion",
            "dbt",
            "dags",
            "api",
            "monitors",
            "ml",
            "bi",
            "scale",
            "daily",
        ],
        help="run one part (scale: only this way, it is long)",
    )
    parser.add_argument(
        "--scale", type=float, default=10.0, help="with --only scale: the volume (default 10)"
    )
    parser.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="with --only scale: the engine (spark: load and dbt on the local Spark target, "
        "benchmarks/scale_spark.py)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=365,
        help="with --only scale or daily: days of history (default 365)",
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.only == "scale" and args.engine == "spark":
        from . import scale_spark

        title = f"load and dbt on local Spark at scale {args.scale:g}, {args.days} days, by stage"
        print(table(title, scale_spark.run(args.scale, args.days)), flush=True)
        return
    if args.only == "scale":
        title = f"the pipeline on DuckDB at scale {args.scale:g}, {args.days} days, stage by stage"
        print(table(title, scale.run(args.scale, args.days)), flush=True)
        return
    if args.only == "daily":
        title = (
            f"the daily dbt build on DuckDB after {args.days} and {2 * args.days} days, "
            f"scale {args.scale:g}"
        )
        print(table(title, daily.run(args.scale, args.days)), flush=True)
        return
    if args.only in (None, "generator"):
        print(table("data generator", generator.run(full=not args.quick)), flush=True)
    if args.only in (None, "ingestion"):
        print(table("ingestion: one order_lines file", ingestion.run()), flush=True)
    if args.only in (None, "dags"):
        print(table("Airflow DAG files (warm DAG processor)", dags.run()), flush=True)
    if args.only in (None, "dbt"):
        title = "dbt build on DuckDB: a year in full, then one more day"
        print(table(title, dbt_build.run(full=not args.quick)), flush=True)
    if args.only in (None, "api"):
        title = "metrics API on 127.0.0.1 (sample warehouse, one uvicorn worker)"
        print(table(title, api.run()), flush=True)
    if args.only in (None, "monitors"):
        title = "quality monitors: false alarms on clean days, incidents caught"
        print(table(title, quality_monitors.run(full=not args.quick)), flush=True)
    if args.only in (None, "ml"):
        title = "ML drift checks on clean data (false alarms per 60 daily checks; shifts flagged)"
        print(table(title, ml_drift.run()), flush=True)
    if args.only in (None, "bi"):
        title = "Tableau extract of the largest mart vs a plain Hyper COPY from Parquet"
        print(table(title, bi.run(full=not args.quick)), flush=True)


if __name__ == "__main__":
    main()
