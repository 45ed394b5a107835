"""Bulk-load speed: our loader against the raw bulk path of each engine, on the same file."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import duckdb

from data_generator import generate
from ingestion.backends.duckdb import DuckDBBackend
from ingestion.contracts import CONTRACTS
from ingestion.landing import LandingFile
from ingestion.loader import load_files
from ingestion.readiness import seal_day


def make_order_lines(folder: Path, scale: float = 5.0, days: int = 365) -> tuple[Path, int]:
    """One order_lines file of about 5M rows, concatenated from the generator's daily files."""
    landing = folder / "landing"
    generate(date(2026, 1, 1), days, scale, 42, landing)
    target = folder / "order_lines" / "2026-12-31.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(target, "wb") as out:
        for i, path in enumerate(sorted((landing / "order_lines").glob("*.csv"))):
            with open(path, "rb") as fh:
                header = fh.readline()
                if i == 0:
                    out.write(header)
                body = fh.read()
            rows += body.count(b"\n")
            out.write(body)
    shutil.rmtree(landing)
    seal_day(folder, date(2026, 12, 31), ["order_lines/2026-12-31.csv"])  # ready to load
    return target, rows


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench_duckdb(path: Path, folder: Path, repeats: int) -> tuple[float, float]:
    rows_expected = path.read_bytes().count(b"\n") - 1

    def raw():
        db = folder / f"raw-{uuid.uuid4().hex}.duckdb"
        con = duckdb.connect(str(db))
        con.execute("create table order_lines as select * from read_csv(?)", [str(path)])
        con.close()
        db.unlink()

    def ours():
        db = folder / f"ours-{uuid.uuid4().hex}.duckdb"
        with DuckDBBackend(db) as backend:
            report = load_files(backend, [LandingFile("order_lines", date(2026, 12, 31), path)])
            assert report.count("loaded") == 1, report.results
            assert report.rows_loaded == rows_expected, report.results
        db.unlink()

    return _median_time(raw, repeats), _median_time(ours, repeats)


def bench_postgres(path: Path, repeats: int) -> tuple[float, float] | None:
    try:
        import psycopg

        from ingestion.backends.postgres import PostgresBackend
    except ImportError:
        return None
    env = {"PGHOST": "127.0.0.1", "PGUSER": "postgres", "PGDATABASE": "test", **os.environ}
    conninfo = PostgresBackend.conninfo(env)
    try:
        psycopg.connect(conninfo).close()
    except psycopg.OperationalError:
        return None
    contract = CONTRACTS["order_lines"]
    backend = PostgresBackend("bench")
    cols = ", ".join(f"{c.name} {backend.sql_type(c.type)}" for c in contract.columns)
    backend.close()

    def raw():
        schema = f"bench_raw_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"create schema {schema}")
            conn.execute(f"create table {schema}.order_lines ({cols})")
            with (
                conn.cursor().copy(
                    f"copy {schema}.order_lines from stdin (format csv, header true)"
                ) as copy,
                open(path, "rb") as fh,
            ):
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            conn.execute(f"drop schema {schema} cascade")

    def ours():
        schema = f"bench_ours_{uuid.uuid4().hex[:8]}"
        with PostgresBackend(schema, conninfo) as b:
            report = load_files(b, [LandingFile("order_lines", date(2026, 12, 31), path)])
            assert report.count("loaded") == 1, report.results
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"drop schema {schema} cascade")

    return _median_time(raw, repeats), _median_time(ours, repeats)


def run(repeats: int = 3) -> list[tuple[str, str, str]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        path, rows = make_order_lines(folder)
        out = []
        raw, ours = bench_duckdb(path, folder, repeats)
        note = f"{rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB"
        out.append(
            ("DuckDB raw CTAS read_csv", f"{raw:.2f} s", f"{rows / raw:,.0f} rows/s; {note}")
        )
        out.append(("DuckDB ours (validate, audit)", f"{ours:.2f} s", f"{rows / ours:,.0f} rows/s"))
        out.append(("DuckDB ours / raw", f"{ours / raw:.2f}x", "target <= 2x"))
        pg = bench_postgres(path, repeats)
        if pg is None:
            out.append(("PostgreSQL", "skipped", "no server or no psycopg (postgres extra)"))
        else:
            raw, ours = pg
            out.append(("PostgreSQL raw COPY", f"{raw:.2f} s", f"{rows / raw:,.0f} rows/s"))
            out.append(
                (
                    "PostgreSQL ours (validate, COPY, audit)",
                    f"{ours:.2f} s",
                    f"{rows / ours:,.0f} rows/s",
                )
            )
            out.append(("PostgreSQL ours / raw", f"{ours / raw:.2f}x", "target <= 2x"))
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)
