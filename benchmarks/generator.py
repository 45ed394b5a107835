"""Generator throughput against a plain per-row Faker loop writing the same orders table."""

from __future__ import annotations

import csv
import shutil
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from data_generator import generate
from data_generator.reference import CHANNELS


def faker_loop(path: Path, rows: int, seed: int = 42) -> float:
    """The approach this project replaces: one Faker call per value, one row at a time.

    Writes the same ``orders`` columns our generator writes. Returns rows per second.
    """
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    start, end = datetime(2026, 1, 1), datetime(2026, 12, 31)
    began = time.perf_counter()
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
    return rows / (time.perf_counter() - began)


def run(full: bool = True, repeats: int = 3) -> list[tuple[str, str, str]]:
    """Rows of (measure, value, note). Medians over ``repeats`` runs."""
    rows: list[tuple[str, str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-gen-"))
    try:
        loop = sorted(faker_loop(tmp / f"faker{i}.csv", 30_000) for i in range(repeats))[
            repeats // 2
        ]
        runs = []
        for i in range(repeats):
            out = tmp / f"scale1-{i}"
            runs.append(generate(date(2026, 1, 1), 365, 1.0, 42, out))
            shutil.rmtree(out)
        runs.sort(key=lambda r: r.seconds)
        med = runs[repeats // 2]
        total_rate = med.rows / med.seconds
        lines = med.rows_per_table["order_lines"]
        rows.append(("per-row Faker loop, orders table", f"{loop:,.0f} rows/s", "30,000 rows"))
        rows.append(
            (
                "generator scale 1, 365 days, all 14 tables",
                f"{total_rate:,.0f} rows/s",
                f"{med.rows:,} rows in {med.seconds:.1f}s (simulate {med.simulate_seconds:.1f}s)",
            )
        )
        rows.append(
            (
                "generator scale 1, order_lines end to end",
                f"{lines / med.seconds:,.0f} rows/s",
                f"{lines:,} order lines / total wall time",
            )
        )
        rows.append(
            (
                "generator scale 1, order_lines file writing",
                f"{lines / med.seconds_per_table['order_lines']:,.0f} rows/s",
                f"{med.seconds_per_table['order_lines']:.2f}s to format and write",
            )
        )
        orders_rate = med.rows_per_table["orders"] / med.seconds_per_table["orders"]
        rows.append(
            (
                "generator scale 1, orders file writing",
                f"{orders_rate:,.0f} rows/s",
                f"{med.rows_per_table['orders']:,} rows (every version of each order)",
            )
        )
        rows.append(
            (
                "ratio: orders writing / Faker loop",
                f"{orders_rate / loop:,.0f}x",
                "same table, same columns; target >= 50x",
            )
        )
        rows.append(
            (
                "ratio: end to end, all tables and simulation / Faker loop",
                f"{total_rate / loop:,.0f}x",
                "",
            )
        )
        if full:
            out = tmp / "scale10"
            big = generate(date(2026, 1, 1), 365, 10.0, 42, out)
            shutil.rmtree(out)
            rows.append(
                (
                    "generator scale 10, 365 days",
                    f"{big.seconds:.1f} s",
                    f"{big.rows_per_table['order_lines']:,} order lines, {big.rows:,} rows, "
                    f"{big.rows / big.seconds:,.0f} rows/s; target < 60 s",
                )
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows
