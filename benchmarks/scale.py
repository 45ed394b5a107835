"""The whole pipeline at one scale on DuckDB, stage by stage: wall time, rows/s and peak RSS.

``make bench-scale BENCH_SCALE=10`` (or ``python -m benchmarks --only scale --scale 10``). Each
stage is the command a person or the DAGs run, in a process of its own, so its peak RSS is its
own (``os.wait4``: the largest resident set of the stage's process tree):

1. generate ``--days`` daily batches (the streaming generator);
2. load them into bronze;
3. ``dbt build`` in full (the scheduled selection, every row tested, as a first build);
4. one more day: generate it (``--only-day``, as the ingestion DAG does) and load it;
5. the daily ``dbt build`` (the scheduled selection, the project's defaults);
6. that day's quality gates of bronze and marts (Great Expectations, ``--date``, as the
   quality DAG runs them) and the anomaly monitors on it;
7. ML: train, promote and score both models.

Before the full build, bronze is made to look loaded one file a day (as a year of daily runs
would have it; see :func:`benchmarks.dbt_build.backdate_loads`), so the incremental models'
look-back reads a week of loads, not the whole history loaded minutes ago. (Back-dated after the
full build, as until 2026-12-05, the models kept the real load time of every row, all within
the look-back: the "daily" build re-read the whole year, and daily/full came out at 89%.)

DuckDB's memory limit, threads and spill folder come from the settings
(``DUCKDB_MEMORY_LIMIT``, ``DUCKDB_THREADS``, ``DUCKDB_TEMP_DIRECTORY``), passed through to every
stage. The work folder is under ``.local/bench/`` (``BENCH_DIR``) and is removed afterwards;
each stage's output is kept in it while it runs, and a failing stage raises with its last lines.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from .dbt_build import _bench_dir, backdate_loads

BUILD = ["-m", "orchestration", "dbt", "build", "--selector", "scheduled"]

START = date(2026, 1, 1)
SEED = 42


@dataclass
class Stage:
    name: str
    seconds: float
    peak_mib: float
    rows: int | None = None  # what the stage's rows/s is of
    what: str = ""


def _run(name: str, args: list[str], env: dict[str, str], log: Path) -> Stage:
    """``python <args>`` as a process of its own; its wall time and peak RSS."""
    began = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"stage {name!r} failed ({proc.returncode}):\n{tail}")
    return Stage(name, seconds, usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux


def _aside(fn, *args):
    """``fn(*args)`` in a fresh interpreter, so this process stays small. Linux keeps a
    process's peak RSS across fork and exec: every stage started after this process had grown
    (DuckDB counting rows or back-dating bronze in it) reported at least this process's size as
    its own peak (3.2 GB for the scale-100 load of one day, which peaks far lower)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def _count(db: Path, sql: str) -> int:
    return _aside(_count_here, db, sql)


def _count_here(db: Path, sql: str) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute(sql).fetchone()[0])


def _bronze_rows(db: Path) -> int:
    return _aside(_bronze_rows_here, db)


def _bronze_rows_here(db: Path) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'bronze' and table_name not like '\\_%' escape '\\'"
        ).fetchall()
        return sum(
            int(con.execute(f"select count(*) from bronze.{t}").fetchone()[0]) for (t,) in tables
        )


def _landing_rows(folder: Path) -> int:
    """Data rows of every CSV below ``folder`` (lines less the header)."""
    total = 0
    for path in folder.rglob("*.csv"):
        with path.open("rb") as f:
            total += sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 20), b"")) - 1
    return total


def pipeline(scale: float, days: int, keep: bool = False) -> list[Stage]:
    folder = _bench_dir() / f"scale{scale:g}-{uuid.uuid4().hex[:8]}"
    landing, local, logs = folder / "landing", folder / "local", folder / "logs"
    day_landing = folder / "landing-next-day"
    for p in (landing, local, logs):
        p.mkdir(parents=True, exist_ok=True)
    db = local / "warehouse.duckdb"
    env = {
        **os.environ,
        "PLATFORM_LOCAL_DIR": str(local),
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(db),
        "LANDING_DIR": str(landing),
        "PII_HASH_KEY": os.environ.get("PII_HASH_KEY") or secrets.token_hex(32),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_LOCATION", "AIRFLOW_HOME"):
        env.pop(name, None)  # under PLATFORM_LOCAL_DIR
    last = START + timedelta(days=days - 1)
    nxt = last + timedelta(days=1)
    gen = ["-m", "data_generator", "--start", START.isoformat(), "--scale", f"{scale:g}"]
    gen += ["--seed", str(SEED), "--quiet"]
    stages: list[Stage] = []

    def stage(name: str, args: list[str], rows=None, what: str = "") -> Stage:
        s = _run(name, args, env, logs / f"{len(stages) + 1}.log")
        s.rows = rows() if callable(rows) else rows
        s.what = what
        stages.append(s)
        print(
            f"  {name}: {s.seconds:.1f} s, peak {s.peak_mib:,.0f} MiB"
            + (f", {s.rows:,} rows" if s.rows else ""),
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
            "load bronze", ["-m", "ingestion", "load", "--all", "--quiet"], lambda: _bronze_rows(db)
        )
        _aside(backdate_loads, db, last)  # before the full build: the models keep its load times
        stage(
            "dbt build, full",
            [*BUILD, "--vars", "{data_tests_scope: all}"],
            lambda: _count(db, "select count(*) from marts.fct_order_lines"),
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
        before = _bronze_rows(db)
        stage(
            "load one more day",
            ["-m", "ingestion", "load", "--date", nxt.isoformat(), "--quiet"],
            lambda: _bronze_rows(db) - before,
        )
        stage(
            "dbt build, daily",
            BUILD,
        )
        day = ["--date", nxt.isoformat()]
        stage(
            "quality gate, bronze, one day", ["-m", "quality", "check", "--layer", "bronze", *day]
        )
        stage("quality gate, marts, one day", ["-m", "quality", "check", "--layer", "marts", *day])
        stage("anomaly monitors, one day", ["-m", "quality", "anomalies", *day])
        stage("ML: train, promote, score", ["-m", "ml", "retrain", "--model", "all"])
        return stages
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def run(scale: float = 10.0, days: int = 365) -> list[tuple[str, str, str]]:
    """Rows of (stage, seconds, note) for the pipeline at ``scale`` over ``days`` days."""
    began = time.perf_counter()
    stages = pipeline(scale, days)
    total = time.perf_counter() - began
    rows = []
    for s in stages:
        note = f"peak RSS {s.peak_mib:,.0f} MiB"
        if s.rows:
            note += f"; {s.rows:,} rows ({s.rows / s.seconds:,.0f}/s)"
            if s.what:
                note += f", {s.what}"
        rows.append((s.name, f"{s.seconds:.1f} s", note))
    full = next(s for s in stages if s.name == "dbt build, full")
    daily = next(s for s in stages if s.name == "dbt build, daily")
    peak = max(s.peak_mib for s in stages)
    rows.append(("daily / full dbt build", f"{daily.seconds / full.seconds:.0%}", ""))
    rows.append(
        (
            f"end to end, scale {scale:g}, {days} days",
            f"{total:.0f} s",
            f"largest stage peak RSS {peak:,.0f} MiB",
        )
    )
    return rows
