"""The quality monitors: false alarms on clean data, and the incidents they catch.

**Clean days.** Three seeds the thresholds were not tuned on, ``DAYS`` days each at ``SCALE``,
loaded with the real loader and built by ``dbt run``; every day from the 15th on is scored with
every monitor family (``quality.monitors``). A false alarm is a day on which a family flagged
anything (that day's grouped alert); the figure is per 60 scored days, for the worst seed and
over all seeds, with the flagged scores in the note.

**Incidents.** One more seed's landing zone with the drills of ``quality.monitors.drills`` on
days of their own (as ``tests/test_quality_monitors.py`` does), scored on each incident day, plus
the business-rule dbt tests; and the generator's ``volume_drop`` on three seeds, from day 1 of a
fresh warehouse (bronze only). Each row names the monitor that flagged the incident and its z.

The work folder is ``.local/bench/monitors`` (``BENCH_DIR`` overrides the parent) and is removed
afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from data_generator import generate
from ingestion.backends.duckdb import DuckDBBackend
from ingestion.landing import discover
from ingestion.loader import load_files
from ingestion.warehouse import connect
from quality.anomalies import detect
from quality.monitors import FAMILIES, Score, drills, score_files, score_series
from quality.monitors import files as files_monitor
from quality.monitors.detect import history_start, wanted
from quality.monitors.metrics import load_series
from quality.settings import config

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
START = date(2026, 1, 1)
CLEAN_SEEDS = (11, 12, 13)  # the thresholds were tuned on 101-103 (scale 1) and 201-203 (0.3)
INCIDENT_SEED = 8
VOLUME_DROP_SEEDS = (21, 22, 23)
FIRST_SCORED = 14  # day index: two weeks of history from day 1
Row = tuple[str, str, str]


def _day(k: int) -> date:
    return START + timedelta(days=k)


def _work() -> Path:
    base = Path(os.environ.get("BENCH_DIR", ROOT / ".local" / "bench"))
    return base / "monitors"


def _dbt(work: Path, db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(db),
        "DBT_PROFILES_DIR": str(PROJECT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_DATA_TESTS_SCOPE": "all",
    }
    cmd = [
        str(DBT),
        *args,
        "--project-dir",
        str(PROJECT),
        "--profiles-dir",
        str(PROJECT),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--threads",
        "2",
        "--no-version-check",
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def _build(work: Path, landing: Path, marts: bool = True) -> Path:
    """Load ``landing`` into a fresh DuckDB file (and build the marts); returns the file."""
    db = work / "warehouse.duckdb"
    with DuckDBBackend(db) as backend:
        report = load_files(backend, discover(landing))
    if report.failed:
        raise RuntimeError(f"load failed: {[f.message for f in report.failed][:3]}")
    if marts:
        done = _dbt(work, db, "run", "--exclude", "tag:ml")
        if done.returncode != 0:
            raise RuntimeError(f"dbt run failed:\n{done.stdout[-3000:]}")
    return db


def _env(db: Path) -> dict[str, str]:
    return {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(db)}


def score_days(db: Path, days: int) -> list[Score]:
    """Every family on every day from ``FIRST_SCORED`` on (series read once)."""
    s = config().anomalies
    with connect(_env(db)) as wh:
        data = load_series(wh, wanted(s), history_start(_day(FIRST_SCORED), s), _day(days - 1))
        audit = files_monitor.audit_days(wh, START, _day(days - 1))
    out: list[Score] = []
    for k in range(FIRST_SCORED, days):
        out += score_series(data, _day(k), s) + score_files(audit, _day(k), s)
    return out


def _per_60(count: int, days: int) -> str:
    return f"{60 * count / days:.2f}"


def clean_rows(seeds: tuple[int, ...], days: int, scale: float, work: Path) -> list[Row]:
    scored_days = days - FIRST_SCORED
    alarm_days: dict[str, list[int]] = {f: [] for f in FAMILIES}
    examples: dict[str, list[str]] = {f: [] for f in FAMILIES}
    scored: dict[str, int] = dict.fromkeys(FAMILIES, 0)
    for seed in seeds:
        folder = work / f"clean_{seed}"
        landing = folder / "landing"
        generate(start=START, days=days, scale=scale, seed=seed, out=landing)
        scores = score_days(_build(folder, landing), days)
        for family in FAMILIES:
            mine = [x for x in scores if x.family == family]
            scored[family] += sum(x.status in ("ok", "anomaly") for x in mine)
            hit_days = sorted({x.day for x in mine if x.is_anomaly})
            alarm_days[family].append(len(hit_days))
            examples[family] += [
                f"{x.day:%m-%d} {x.metric} z {x.z:+.1f}" for x in mine if x.is_anomaly
            ]
        shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for family in FAMILIES:
        worst = max(alarm_days[family])
        total = sum(alarm_days[family])
        note = f"{scored[family]:,} scores; " + ("; ".join(examples[family][:3]) or "none")
        rows.append(
            (
                f"false alarms/60 days: {family}",
                f"{_per_60(worst, scored_days)} worst, "
                f"{_per_60(total, scored_days * len(seeds))} all",
                note,
            )
        )
    return rows


def _hit(scores: list[Score], want: Callable[[Score], bool]) -> str:
    found = [s for s in scores if want(s)]
    if not found:
        return "not scored"
    best = max(found, key=lambda s: abs(s.z or 0))
    verdict = "flagged" if best.is_anomaly else "MISSED"
    return f"{verdict}: {best.metric} z {best.z:+.1f}"


def incident_rows(scale: float, work: Path) -> list[Row]:
    folder = work / "incidents"
    landing = folder / "landing"
    generate(start=START, days=50, scale=scale, seed=INCIDENT_SEED, out=landing)
    made = [
        drills.defect_creep(landing, _day(30), facility_id=2, days=10, peak=3.0),
        drills.refund_above_paid(landing, _day(40)),
        drills.delivered_before_shipped(landing, _day(41)),
        drills.price_x100(landing, _day(42)),
        drills.channel_loss(landing, _day(44), "web", share=0.4),
        drills.carrier_late(landing, _day(45), carrier_id=2, days=3),
        drills.redeliver(landing, _day(49), line_endings="\r\n"),
    ]
    db = _build(folder, landing)
    _dbt(folder, db, "test", "--select", "path:tests/business_rules")
    results = json.loads((folder / "target" / "run_results.json").read_text())["results"]
    rules = {r["unique_id"].split(".")[2]: r for r in results}
    with connect(_env(db)) as wh:

        def on(k: int) -> list[Score]:
            return detect(wh, _day(k))

        carrier = "Continental Freight"
        checks = [
            ("price_x100", _hit(on(42), lambda s: s.metric == "revenue")),
            ("channel_loss", _hit(on(44), lambda s: s.metric == "orders[channel=web]")),
            (
                "carrier_late (day)",
                _hit(on(45), lambda s: s.metric == f"deliveries[carrier={carrier}]"),
            ),
            (
                "carrier_late (+3 days)",
                _hit(on(48), lambda s: s.metric == f"on_time_rate[carrier={carrier}]"),
            ),
            (
                "defect_creep",
                _hit(on(39), lambda s: s.metric == "weekly:defect_rate[facility=Reno Assembly]"),
            ),
            ("redeliver (CRLF)", _hit(on(49), lambda s: s.metric == "rows_orders")),
        ]
    detail = {d.incident: d.detail for d in made}
    rows = [
        (f"incident: {name}", verdict, detail.get(name.split(" ")[0], ""))
        for name, verdict in checks
    ]
    for rule, incident in (
        ("assert_unit_price_near_list_price", "price_x100"),
        ("assert_unit_price_is_list_price", "price_x100"),
        ("assert_refunds_not_above_line_paid", "refund_above_paid"),
        ("assert_delivered_after_shipped", "delivered_before_shipped"),
        ("assert_file_carries_its_day_events", "redeliver"),
    ):
        r = rules[rule]
        rows.append((f"dbt rule: {rule}", f"{r['status']}, {r['failures']} row(s)", incident))
    shutil.rmtree(folder, ignore_errors=True)
    return rows


def volume_drop_rows(scale: float, work: Path) -> list[Row]:
    caught = []
    for seed in VOLUME_DROP_SEEDS:
        folder = work / f"drop_{seed}"
        landing = folder / "landing"
        generate(start=START, days=21, scale=scale, seed=seed, out=landing, faults="volume_drop")
        faults = json.loads((landing / "_faults.json").read_text())["faults"]
        drop = date.fromisoformat(Path(faults[0]["file"]).stem)
        db = _build(folder, landing, marts=False)
        with connect(_env(db)) as wh:
            scores = {s.metric: s for s in detect(wh, drop)}
        parts = [
            f"{m} z {scores[m].z:+.1f}{'' if scores[m].is_anomaly else ' MISSED'}"
            for m in ("rows_orders", "rows_order_lines")
        ]
        caught.append(f"seed {seed} day {(drop - START).days + 1}: " + ", ".join(parts))
        shutil.rmtree(folder, ignore_errors=True)
    flagged = sum("MISSED" not in c for c in caught)
    return [
        (
            "volume_drop from day 1",
            f"{flagged} of {len(caught)} seeds",
            f"scale {scale:g}, bronze only; " + "; ".join(caught),
        )
    ]


def run(full: bool = True) -> list[Row]:
    """``full``: 120 clean days at scale 1 per seed; otherwise 75 days at scale 0.5."""
    days, scale = (120, 1.0) if full else (75, 0.5)
    work = _work()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    began = time.perf_counter()
    try:
        rows = clean_rows(CLEAN_SEEDS, days, scale, work)
        rows += incident_rows(1.0, work)
        rows += volume_drop_rows(0.5, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seeds = ", ".join(map(str, CLEAN_SEEDS))
    rows.append(
        (
            "clean data",
            f"{len(CLEAN_SEEDS)} seeds x {days - FIRST_SCORED} scored days",
            f"seeds {seeds}, scale {scale:g}; {time.perf_counter() - began:.0f} s in all",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run(full="--quick" not in sys.argv):
        print(" | ".join(row))
