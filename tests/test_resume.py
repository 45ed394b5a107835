"""``make airflow`` after ``make run``: the daily schedule resumes the day after the last loaded day.

The warehouse holds the committed sample (January 1-14, loaded by the production loader). The
window comes from the load audit (orchestration/resume.py); the first scheduled day is asked of
Airflow itself: the ``ingest_daily`` DAG is parsed with that environment (in a child process, as
the DAG processor does) and its timetable gives the first run the scheduler would create.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from orchestration.resume import last_loaded_day, resume_env, window

ROOT = Path(__file__).resolve().parent.parent

FIRST_RUNS = """
import json, sys
sys.path.insert(0, "{dags}")
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import TimeRestriction
dag = DagBag(dag_folder="{dags}/ingest_daily.py").dags["ingest_daily"]
timetable = coerce_to_core_timetable(dag.timetable)  # as the scheduler holds it
# what the scheduler asks the DAG's timetable, run after run
restriction = TimeRestriction(dag.start_date, dag.end_date, dag.catchup)
runs, interval = [], None
while len(runs) < 100:
    info = timetable.next_dagrun_info(
        last_automated_data_interval=interval, restriction=restriction
    )
    if info is None:
        break
    runs.append(info.logical_date.date().isoformat())
    interval = info.data_interval
print(json.dumps(runs))
"""


def _scheduled_days(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", FIRST_RUNS.format(dags=ROOT / "dags")],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def after_make_run(tmp_path_factory) -> dict[str, str]:
    """The environment of a warehouse that ``make run`` filled with January 1-14."""
    from ingestion.backends.duckdb import DuckDBBackend
    from ingestion.landing import discover
    from ingestion.loader import load_files

    work = tmp_path_factory.mktemp("resume")
    path = work / "w.duckdb"
    with DuckDBBackend(path) as backend:
        report = load_files(backend, discover(ROOT / "sample_data"))
    assert not report.failed
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "INGEST_", "WAREHOUSE_", "DUCKDB"))
    }
    from orchestration.home import airflow_env

    return airflow_env(
        {
            **env,
            "AIRFLOW_HOME": str(work / "airflow"),
            "WAREHOUSE_TARGET": "duckdb",
            "DUCKDB_PATH": str(path),
            "PIPELINE_START": "2026-01-01",
        }
    )


def test_last_loaded_day_is_read_from_the_load_audit(after_make_run, tmp_path):
    assert last_loaded_day(after_make_run) == date(2026, 1, 14)
    missing = {**after_make_run, "DUCKDB_PATH": str(tmp_path / "none.duckdb")}
    assert last_loaded_day(missing) is None
    assert not (tmp_path / "none.duckdb").exists()  # looking never creates a warehouse


def test_make_airflow_first_scheduled_day_follows_make_run(after_make_run):
    env, win = resume_env({**after_make_run, "INGEST_CATCHUP_DAYS": "5"})
    assert (win.first, win.last) == (date(2026, 1, 15), date(2026, 1, 19))
    days = _scheduled_days(env)
    # no gap: the day after the last loaded one, then each day, up to the catch-up limit
    assert days == ["2026-01-15", "2026-01-16", "2026-01-17", "2026-01-18", "2026-01-19"]
    assert "2026-01-14" in win.reason and "backfill" in win.reason


def test_without_the_resume_window_the_schedule_would_jump_to_today(after_make_run):
    """The other direction: the plain DAG (no INGEST_START) does not follow the warehouse."""
    days = _scheduled_days(after_make_run)
    assert days and days[0] != "2026-01-15"


def test_window_rules():
    start = date(2026, 1, 1)
    today = date(2026, 3, 1)
    fresh = window(start, None, today=today, catchup_days=10)
    assert (fresh.first, fresh.last) == (start, date(2026, 1, 10))
    caught_up = window(start, date(2026, 2, 27), today=today)
    assert (caught_up.first, caught_up.last) == (date(2026, 2, 28), date(2026, 2, 28))
    ahead = window(start, date(2026, 2, 28), today=today)  # nothing due before tomorrow
    assert ahead.first == ahead.last == date(2026, 3, 1)
    early = window(date(2026, 2, 1), date(2026, 1, 5), today=today)  # never before the start
    assert early.first == date(2026, 2, 1)
    with pytest.raises(ValueError, match="INGEST_CATCHUP_DAYS"):
        window(start, None, today=today, catchup_days=0)


def _next_run(env: dict[str, str]) -> str | None:
    import sqlite3

    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        row = db.execute("select next_dagrun from dag where dag_id = 'ingest_daily'").fetchone()
    return row[0][:10] if row and row[0] else None


def test_the_scheduler_database_takes_the_window_before_the_scheduler_starts(after_make_run):
    """What ``make airflow`` does before starting the scheduler, on Airflow's own database: the
    DAGs as ``make run`` left them would run today next; re-serialized with the window, the
    next run Airflow stores for ingest_daily is the day after the last loaded day."""
    from orchestration.home import airflow, setup
    from orchestration.serve import schedule_from_window

    setup(after_make_run)
    airflow(after_make_run, "dags", "reserialize")  # the DAGs as make run saw them
    before = _next_run(after_make_run)
    assert before is not None and before != "2026-01-15"
    env, _ = resume_env(after_make_run)
    schedule_from_window(env)
    assert _next_run(env) == "2026-01-15"
