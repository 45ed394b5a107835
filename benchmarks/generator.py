"""Generator throughput against a plain per-row Faker loop writing the same orders table, and the
generator's peak memory (each generation runs in a fresh process, so its peak RSS is its own)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from data_generator.reference import CHANNELS

ROOT = Path(__file__).resolve().parent.parent

# Runs one generation and prints its figures as JSON: peak RSS (VmHWM, KiB) of the process itself
# (simulation) and of the largest writer process; CPU seconds of the process (with interpreter
# start-up) and of all its writers.
_GENERATE = """
import json, resource, sys
from datetime import date
from data_generator import generate
from data_generator.pipeline import peak_rss_kib
scale, days, out = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = generate(date(2026, 1, 1), days, scale, 42, out)
print(json.dumps({
    "rows": r.rows, "rows_per_table": r.rows_per_table, "seconds": r.seconds,
    "simulate_seconds": r.simulate_seconds, "seconds_per_table": r.seconds_per_table,
    "main_rss_kib": peak_rss_kib(), "writer_rss_kib": r.writer_rss_kib,
    "main_cpu": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
    "writers_cpu": sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]),
}))
"""


def faker_loop(path: Path, rows: int, seed: int = 42) -> tuple[float, float]:
    """The approach this project replaces: one Faker call per value, one row at a time.

    Writes the same ``orders`` columns our generator writes. Returns rows per second of wall
    time and per second of CPU time.
    """
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    start, end = datetime(2026, 1, 1), datetime(2026, 12, 31)
    began, cpu = time.perf_counter(), time.process_time()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["order_id", "customer_id", "ordered_at", "channel", "status", "updated_at"]
        )
        for order_id in range(1, rows + 1):
            ordered = fake.date_time_between(start_date=start, end_date=end)
            writer.writerow(
                [
                    order_id,
                    fake.random_int(1, 25_000),
                    ordered.strftime("%Y-%m-%d %H:%M:%S"),
                    fake.random_element(CHANNELS),
                    fake.random_element(("placed", "shipped", "delivered", "cancelled")),
                    ordered.strftime("%Y-%m-%d %H:%M:%S"),
                ]
            )
    return rows / (time.perf_counter() - began), rows / (time.process_time() - cpu)


def generate_once(scale: float, days: int, out: Path) -> dict:
    """One generation in a fresh interpreter: its result's figures and its peak memory."""
    done = subprocess.run(
        [sys.executable, "-c", _GENERATE, str(scale), str(days), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"generation at scale {scale} failed:\n{done.stderr}")
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(done.stdout.splitlines()[-1])


def _median_run(scale: float, days: int, repeats: int, tmp: Path) -> dict:
    runs = sorted(
        (generate_once(scale, days, tmp / f"s{scale}-{i}") for i in range(repeats)),
        key=lambda r: r["seconds"],
    )
    return runs[repeats // 2]


def _mb(kib: int) -> str:
    return f"{kib / 1024:,.0f} MB"


def _scale_rows(label: str, run: dict, loop: tuple[float, float]) -> list[tuple[str, str, str]]:
    lines = run["rows_per_table"]["order_lines"]
    total_rate = run["rows"] / run["seconds"]
    writing = run["seconds_per_table"]["order_lines"]
    cpu = run["main_cpu"] + run["writers_cpu"]
    return [
        (
            f"{label}, all 14 tables end to end",
            f"{total_rate:,.0f} rows/s",
            f"{run['rows']:,} rows in {run['seconds']:.1f}s "
            f"(simulating {run['simulate_seconds']:.1f}s, overlapped with writing)",
        ),
        (
            f"{label}, order_lines written",
            f"{lines / writing:,.0f} rows/s",
            f"{lines:,} order lines in {writing:.1f}s of writer time",
        ),
        (
            f"{label}, order_lines end to end",
            f"{lines / run['seconds']:,.0f} rows/s",
            "order lines / total wall time",
        ),
        (
            f"{label}, ratio end to end / Faker loop",
            f"{total_rate / loop[0]:,.0f}x",
            "all tables and simulation, wall time; target >= 50x",
        ),
        (
            f"{label}, CPU time",
            f"{cpu:.1f} s",
            f"simulating {run['main_cpu']:.1f} s + writers {run['writers_cpu']:.1f} s; "
            f"rows per CPU second {run['rows'] / cpu / loop[1]:,.0f}x the Faker loop's",
        ),
        (
            f"{label}, peak RSS",
            _mb(run["main_rss_kib"]),
            f"simulating process; largest writer process {_mb(run['writer_rss_kib'])}",
        ),
    ]


def run(full: bool = True, repeats: int = 3) -> list[tuple[str, str, str]]:
    """Rows of (measure, value, note). Medians over ``repeats`` runs."""
    rows: list[tuple[str, str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-gen-"))
    try:
        loops = sorted(faker_loop(tmp / f"faker{i}.csv", 30_000) for i in range(repeats))
        loop = loops[repeats // 2]
        rows.append(
            (
                "per-row Faker loop, orders table",
                f"{loop[0]:,.0f} rows/s",
                f"30,000 rows; {loop[1]:,.0f} rows per CPU second",
            )
        )
        small = _median_run(1.0, 365, repeats, tmp)
        rows += _scale_rows("scale 1, 365 days", small, loop)
        if full:
            big = _median_run(10.0, 365, repeats, tmp)
            rows += _scale_rows("scale 10, 365 days", big, loop)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows
