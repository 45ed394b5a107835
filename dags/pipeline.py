"""Shared pieces of the platform's DAGs: assets, paths, pools, default task arguments.

Every DAG file imports from here, so the wiring between DAGs (which asset each one reads and
writes) is defined once. Nothing here touches a database or parses dbt at import time.

Assets are warehouse-neutral: they name a layer of the warehouse, not a table on one engine, so
the same DAGs chain the same way on DuckDB, PostgreSQL, Spark, Databricks or Snowflake
(``WAREHOUSE_TARGET`` picks the engine for everything at once).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from airflow.sdk import Asset

from platform_core.settings import current

#: Every setting below comes from the environment through platform_core/settings.py, where its
#: default is written; a wrong value fails the DAG import with the variable's name.
SETTINGS = current()
#: The repository (DAG files live in ``<repo>/dags``); override with ``PLATFORM_HOME``.
REPO = SETTINGS.repo
DBT_PROJECT = REPO / "dbt_project"
#: The pre-built manifest Cosmos renders the transform DAG from (``dbt parse`` writes it).
DBT_MANIFEST = SETTINGS.manifest_path
WAREHOUSE_TARGET = SETTINGS.target

#: Tasks that write to the warehouse share this pool. On DuckDB (one writer per file) it has one
#: slot; ``python -m orchestration setup`` creates it with the right size for the target.
WAREHOUSE_POOL = "warehouse_writes"
POOL_SLOTS = {"duckdb": 1}
DEFAULT_POOL_SLOTS = 8

#: First day of the synthetic company: the generator simulates from here to the logical date.
PIPELINE_START: date = SETTINGS.get("PIPELINE_START")
GENERATOR_SCALE: float = SETTINGS.get("GENERATOR_SCALE")
GENERATOR_SEED: int = SETTINGS.get("GENERATOR_SEED")

#: When ingest_daily runs (cron or preset; "none": only when triggered or backfilled).
INGEST_SCHEDULE: str | None = SETTINGS.get("INGEST_SCHEDULE")
if INGEST_SCHEDULE.lower() == "none":
    INGEST_SCHEDULE = None
#: dbt selection the transform DAG renders and builds (default: the whole project).
TRANSFORM_SELECT = (SETTINGS.get("TRANSFORM_SELECT") or "").split()

#: Scheduled catch-up of ingest_daily from PIPELINE_START (backfills work either way).
CATCHUP: bool = SETTINGS.get("INGEST_CATCHUP")
#: The days the scheduler runs ingest_daily for, when ``make airflow`` resumes after the last
#: loaded day (orchestration/resume.py sets both; catch-up is then on, day after day).
INGEST_START = max(PIPELINE_START, SETTINGS.get("INGEST_START") or PIPELINE_START)
INGEST_END: date | None = SETTINGS.get("INGEST_END")

OWNER = "data-platform"

# ------------------------------------------------------------------ assets
#: Bronze tables were loaded (extra: rows loaded/rejected, files, logical date).
BRONZE = Asset(name="bronze", uri="warehouse://analytics/bronze", group="warehouse")
#: dbt rebuilt staging, intermediate, marts and metrics views (extra: models and tests passed).
MARTS = Asset(name="marts", uri="warehouse://analytics/marts", group="warehouse")
#: The latest quality gate's verdict was written (quality.check_results).
QUALITY_RESULTS = Asset(
    name="quality_results", uri="warehouse://analytics/quality", group="warehouse"
)
#: Batch scores written back by the ML models (ml.delivery_risk_scores, ml.demand_forecast).
ML_SCORES = Asset(name="ml_scores", uri="warehouse://analytics/ml", group="warehouse")
#: Tableau extracts refreshed from the marts (extra: the run's summary; bi/extract.py).
BI_EXTRACTS = Asset(name="bi_extracts", uri="bi://analytics/extracts", group="bi")


def midnight(day: date | None) -> datetime | None:
    """``day`` at 00:00 UTC (a DAG's start or end date), or None."""
    if day is None:
        return None
    from datetime import UTC

    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def pool_slots(target: str = WAREHOUSE_TARGET) -> int:
    return POOL_SLOTS.get(target, DEFAULT_POOL_SLOTS)


def on_task_failure(context) -> None:
    """Slack + email alert for a failed task (imported lazily: DAG files parse fast)."""
    from quality.notify import task_failure_callback

    task_failure_callback(context)


def default_args(retries: int = 2, retry_delay: timedelta = timedelta(minutes=2)) -> dict:
    """Arguments every task gets: an owner, retries suited to the work, the failure alert."""
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "on_failure_callback": on_task_failure,
    }


def logical_day(logical_date: datetime | None) -> date:
    """The day a run is for (its logical date in UTC)."""
    if logical_date is None:
        raise ValueError("this task needs a logical date (trigger it with one)")
    return logical_date.date()


def duckdb_path() -> Path:
    """The DuckDB warehouse file, absolute (dbt runs from a temporary copy of the project)."""
    return current().duckdb_path


def dbt_env_vars() -> dict[str, str]:
    return {
        "WAREHOUSE_TARGET": WAREHOUSE_TARGET,
        "DUCKDB_PATH": str(duckdb_path()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def release_warehouse(*_args, **_kwargs) -> None:
    """An Airflow ``post_execute`` hook: close the DuckDB connection an in-process dbt run
    left open (platform_core/dbt_runner.py), so the warehouse file is free for the next task."""
    from platform_core.dbt_runner import release_warehouse as release

    release()


def dbt_executable() -> str:
    """dbt from the same environment as Airflow (the project's virtualenv)."""
    from platform_core.dbt_runner import dbt_executable as executable

    return executable()
