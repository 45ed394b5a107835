"""``dbt build`` on DuckDB: a full build of a year of data, then the build after one more day.

The generator has the prefix property (N+k days give the first N days' files byte for byte), so
one landing zone of ``DAYS + INCREMENTS`` days serves both: the first ``DAYS`` days are loaded and
built from scratch (the full build), then each further day is loaded and the same build runs again
(the daily incremental build). Both are the scheduled build, ``dbt build --selector scheduled``
(what the transform DAG runs: every model and data test; unit tests run in development
and CI). The full build's tests check every row (``data_tests_scope: all``, as a first build
should); the daily builds run with the project's defaults, whose tests on the incremental models
check the rows loaded within ``lookback_days`` (dbt_project/macros/data_tests_scope.sql). Times
are wall clock of the ``dbt`` command, start-up included (the project is parsed beforehand with
the same settings, as a scheduler with a pre-built manifest would);
dbt's own per-node timings (``target/run_results.json``) name the slowest nodes of the
incremental build.
The work folder is ``.local/bench/`` (``BENCH_DIR`` overrides it) and is removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from data_generator import generate
from ingestion.backends.duckdb import DuckDBBackend
from ingestion.landing import discover
from ingestion.loader import load_files

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
START = date(2026, 1, 1)
DAYS = 365  # a realistic year, as the generator benchmark
INCREMENTS = 3  # one new day at a time; the median is reported
SEED = 42
# what the transform DAG runs: the default selection without unit tests (dbt_project/selectors.yml)
SCHEDULED = ("build", "--selector", "scheduled")
BENCH_PII_HASH_KEY = secrets.token_hex(32)


@dataclass
class Build:
    """One ``dbt`` command: wall and CPU time, dbt's own elapsed time, seconds per node."""

    wall: float
    cpu: float
    elapsed: float
    nodes: dict[str, float]
    statuses: dict[str, int]


def _bench_dir() -> Path:
    return Path(os.environ.get("BENCH_DIR", ROOT / ".local" / "bench"))


def dbt_argv(work: Path, *args: str) -> list[str]:
    """dbt's arguments for ``args`` on the project, with ``work``'s target and log folders."""
    return [
        *args,
        "--project-dir",
        str(PROJECT),
        "--profiles-dir",
        str(PROJECT),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--no-version-check",
    ]


def dbt_environment(db: Path) -> dict[str, str]:
    """The environment of a bench's dbt on the DuckDB file ``db``."""
    return {
        **os.environ,
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(db),
        "DBT_PROFILES_DIR": str(PROJECT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # the benchmark's data is generated and deleted: a throwaway key unless one is set
        "PII_HASH_KEY": os.environ.get("PII_HASH_KEY") or BENCH_PII_HASH_KEY,
    }


def dbt(work: Path, db: Path, *args: str) -> Build:
    """Run ``dbt <args>`` on the project against the DuckDB file ``db``; fail loudly."""
    env = dbt_environment(db)
    cmd = [str(DBT), *dbt_argv(work, *args)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if result.returncode != 0:
        raise RuntimeError(
            f"dbt {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}"
        )
    if args[0] == "parse":
        return Build(wall, cpu, wall, {}, {})
    results = json.loads((work / "target" / "run_results.json").read_text())
    nodes = {r["unique_id"]: r["execution_time"] for r in results["results"]}
    statuses: dict[str, int] = {}
    for r in results["results"]:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return Build(wall, cpu, results["elapsed_time"], nodes, statuses)


def _load(db: Path, landing: Path, first: date, last: date) -> int:
    with DuckDBBackend(db) as backend:
        report = load_files(backend, discover(landing, start=first, end=last))
    if report.failed:
        raise RuntimeError(f"load failed: {[f.file.name for f in report.failed]}")
    return report.rows_loaded


def _name(unique_id: str) -> str:
    """``model.pkg.fct_orders`` -> ``fct_orders``; tests end in a hash, dropped."""
    return unique_id.split(".")[2]


def backdate_loads(db: Path, last: date, today: date | None = None) -> None:
    """Make bronze look loaded one file a day, the file of ``last`` yesterday, as daily runs would.

    Everything is really loaded within minutes, so without this the incremental facts'
    ``lookback_days`` window would re-read the whole history instead of a week of loads. Only
    rows loaded for real (later than the stamp ``last`` gets) are stamped, so a bench can load
    and back-date in phases with one ``last`` (the final day of its landing zone) and ``today``
    (fixed at its start): every row's stamp is its file's day plus the same shift, in the past.
    """
    import duckdb

    today = today or date.today()
    shift = (today - timedelta(days=1) - last).days
    newest = f"timestamp '{last + timedelta(days=shift)} 23:00:00'"  # the stamp of `last`
    with duckdb.connect(str(db)) as con:
        tables = con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'bronze' and table_name not like '\\_%' escape '\\'"
        ).fetchall()
        for (table,) in tables:
            con.execute(
                f"update bronze.{table} set _loaded_at = cast(regexp_extract("
                f"_source_file, '(\\d{{4}}-\\d{{2}}-\\d{{2}})', 1) as timestamp) "
                f"+ interval 23 hour + interval ({shift}) day "
                f"where _loaded_at > {newest}"
            )


def _slowest(build: Build, n: int = 3) -> str:
    top = sorted(build.nodes.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{_name(uid)[:40]} {sec:.1f}s" for uid, sec in top)


def _nodes_by_kind(build: Build) -> str:
    kinds: dict[str, float] = {}
    for uid, sec in build.nodes.items():
        kind = uid.split(".")[0]
        kinds[kind] = kinds.get(kind, 0.0) + sec
    return ", ".join(f"{k} {v:.0f}s" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))


def bench_scale(scale: float, full_repeats: int, increments: int = INCREMENTS) -> list[tuple]:
    """Rows for one scale: full build (median of ``full_repeats``), incremental, ratio."""
    folder = _bench_dir() / f"dbt-scale{scale:g}-{uuid.uuid4().hex[:8]}"
    landing, db, work = folder / "landing", folder / "warehouse.duckdb", folder / "dbt"
    try:
        gen = generate(START, DAYS + increments, scale, SEED, landing)
        last = START + timedelta(days=DAYS - 1)
        began = time.perf_counter()
        rows = _load(db, landing, START, last)
        load_seconds = time.perf_counter() - began
        backdate_loads(db, last)
        dbt(work, db, "parse", "--vars", "{data_tests_scope: all}")
        fulls = [dbt(work, db, *SCHEDULED, "--vars", "{data_tests_scope: all}")]
        for _ in range(full_repeats - 1):
            fulls.append(dbt(work, db, *SCHEDULED, "--full-refresh"))
        dbt(work, db, "parse")  # the daily builds' settings (no vars): no reparse in the first
        incs = []
        for i in range(increments):
            day = last + timedelta(days=i + 1)
            _load(db, landing, day, day)
            incs.append(dbt(work, db, *SCHEDULED))
        full = statistics.median(b.wall for b in fulls)
        full_cpu = statistics.median(b.cpu for b in fulls)
        inc = statistics.median(b.wall for b in incs)
        inc_cpu = statistics.median(b.cpu for b in incs)
        inc_build = sorted(incs, key=lambda b: b.wall)[len(incs) // 2]
        lines = gen.rows_per_table["order_lines"] * DAYS // (DAYS + increments)
        label = f"scale {scale:g}"
        runs = f"median of {full_repeats}" if full_repeats > 1 else "one run"
        return [
            (
                f"load bronze, {label}, {DAYS} days",
                f"{load_seconds:.1f} s",
                f"{rows:,} rows (~{lines:,} order lines)",
            ),
            (
                f"dbt build full, {label}",
                f"{full:.1f} s",
                f"{runs}; {full_cpu:.0f} s CPU; {sum(fulls[0].statuses.values())} nodes",
            ),
            (
                f"dbt build after one new day, {label}",
                f"{inc:.1f} s",
                f"median of {increments} days; {inc_cpu:.0f} s CPU",
            ),
            (
                f"incremental / full, {label}",
                f"{inc / full:.0%}",
                f"CPU {inc_cpu / full_cpu:.0%}" + ("; target < 20%" if scale >= 10 else ""),
            ),
            (
                f"node time after one new day, {label}",
                f"{sum(inc_build.nodes.values()):.0f} s",
                _nodes_by_kind(inc_build),
            ),
            (f"slowest nodes after one new day, {label}", "", _slowest(inc_build)),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_floor(days: int = 30, scale: float = 0.01) -> tuple[float, int]:
    """dbt's own cost: the daily build (median of 3 days) on a tiny warehouse, where SQL is next
    to nothing, so what is left is start-up and per-node overhead. Returns (seconds, nodes)."""
    folder = _bench_dir() / f"dbt-floor-{uuid.uuid4().hex[:8]}"
    landing, db, work = folder / "landing", folder / "warehouse.duckdb", folder / "dbt"
    try:
        generate(START, days + INCREMENTS, scale, SEED, landing)
        last = START + timedelta(days=days - 1)
        _load(db, landing, START, last)
        backdate_loads(db, last)
        dbt(work, db, *SCHEDULED, "--vars", "{data_tests_scope: all}")
        dbt(work, db, "parse")
        incs = []
        for i in range(INCREMENTS):
            day = last + timedelta(days=i + 1)
            _load(db, landing, day, day)
            incs.append(dbt(work, db, *SCHEDULED))
        return statistics.median(b.wall for b in incs), sum(incs[0].statuses.values())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(full: bool = True) -> list[tuple[str, str, str]]:
    """Rows of (measure, value, note): scale 1 always, scale 10 unless ``full`` is false, and
    dbt's own cost (the daily build on tiny data) against the scale 10 full build."""
    out = bench_scale(1.0, full_repeats=3)
    if full:
        out += bench_scale(10.0, full_repeats=1)
        full_seconds = float(next(r for r in out if r[0] == "dbt build full, scale 10")[1][:-2])
        floor, nodes = bench_floor()
        out.append(
            (
                "dbt's own cost: daily build on 30 days at scale 0.01",
                f"{floor:.1f} s",
                f"median of {INCREMENTS} days; {nodes} nodes; {floor / full_seconds:.0%} of the "
                "scale 10 full build",
            )
        )
    with contextlib.suppress(OSError):
        _bench_dir().rmdir()  # only if empty: other benchmarks may share it
    return out
