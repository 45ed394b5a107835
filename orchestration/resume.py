"""Where ``make airflow``'s daily schedule starts: the day after the last day loaded into bronze.

``make run`` loads January 1-14 through Airflow's runner; a scheduler started afterwards used to
schedule only the newest interval (today), leaving months of gap. Now ``make airflow`` reads the
load audit before it starts the scheduler and schedules ``ingest_daily`` from the first day not
loaded yet, one day after another (catch-up, ``max_active_runs=1``), never past
``INGEST_CATCHUP_DAYS`` days (default 31) in one go: start ``make airflow`` again to go on, or
backfill a range explicitly (``airflow backfill create --dag-id ingest_daily --from-date ...``).

The window reaches the DAG as ``INGEST_START`` and ``INGEST_END`` (dags/pipeline.py); without
them (a plain Airflow deployment) the DAG starts at ``PIPELINE_START`` and catches up only if
``INGEST_CATCHUP=true``. Scheduled days are never before ``PIPELINE_START``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from platform_core.settings import BY_NAME, current

DEFAULT_CATCHUP_DAYS = int(BY_NAME["INGEST_CATCHUP_DAYS"].default)
_DAY = re.compile(r"/(\d{4}-\d{2}-\d{2})\.csv$")


@dataclass(frozen=True)
class Window:
    first: date  # the first logical date the scheduler runs
    last: date  # the last one it runs in this go
    last_loaded: date | None
    reason: str

    def env(self) -> dict[str, str]:
        return {"INGEST_START": self.first.isoformat(), "INGEST_END": self.last.isoformat()}


def last_loaded_day(environ: Mapping[str, str] | None = None) -> date | None:
    """The newest landing day with a file loaded into bronze (from ``bronze._load_audit``), or
    None when nothing was loaded yet (or there is no warehouse)."""
    from ingestion.backends.base import AUDIT_TABLE
    from ingestion.config import Settings
    from ingestion.warehouse import connect

    env = dict(os.environ if environ is None else environ)
    settings = Settings.from_env(env)
    if settings.target == "duckdb" and not settings.duckdb_path.exists():
        return None  # never create a warehouse just to look into it
    with connect(env) as wh:
        if not wh.table_exists("bronze", AUDIT_TABLE):
            return None
        names = wh.rows(
            f"select distinct file_path from bronze.{AUDIT_TABLE} where status = 'loaded'"
        )
    days = []
    for (name,) in names:
        found = _DAY.search(f"/{name}")
        if found:
            days.append(date.fromisoformat(found.group(1)))
    return max(days, default=None)


def window(
    pipeline_start: date,
    last_loaded: date | None,
    today: date | None = None,
    catchup_days: int = DEFAULT_CATCHUP_DAYS,
) -> Window:
    """The days the scheduler should run now: from the day after ``last_loaded`` (or
    ``pipeline_start``) to yesterday (a daily run for day D starts once D is over), at most
    ``catchup_days`` of them."""
    if catchup_days < 1:
        raise ValueError(f"INGEST_CATCHUP_DAYS must be 1 or more, not {catchup_days}")
    today = today or datetime.now(UTC).date()
    first = max(pipeline_start, last_loaded + timedelta(days=1)) if last_loaded else pipeline_start
    yesterday = today - timedelta(days=1)
    last = min(yesterday, first + timedelta(days=catchup_days - 1))
    if last < first:  # nothing is due yet: the first run is for `first`, tomorrow or later
        last = first
    loaded = f"last loaded day {last_loaded}" if last_loaded else "nothing loaded yet"
    more = (
        f"; {(yesterday - last).days} more day(s) after that: start make airflow again or "
        "backfill them"
        if last < yesterday
        else ""
    )
    reason = f"ingest_daily runs {first} .. {last} ({loaded}){more}"
    return Window(first, last, last_loaded, reason)


def resume_env(environ: Mapping[str, str]) -> tuple[dict[str, str], Window]:
    """``environ`` plus ``INGEST_START``/``INGEST_END`` for the scheduler, and the window."""
    settings = current(environ)
    start, limit = settings.get("PIPELINE_START"), settings.get("INGEST_CATCHUP_DAYS")
    win = window(start, last_loaded_day(environ), catchup_days=limit)
    return {**environ, **win.env()}, win
