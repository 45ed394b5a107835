"""ingest_daily: the logical date's landing-zone batch, generated and loaded into bronze."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task
from pipeline import (
    BRONZE,
    CATCHUP,
    GENERATOR_SCALE,
    GENERATOR_SEED,
    INGEST_END,
    INGEST_SCHEDULE,
    INGEST_START,
    PIPELINE_START,
    WAREHOUSE_POOL,
    default_args,
    logical_day,
    midnight,
)

DOC = """
### ingest_daily
Generates the synthetic company's CSV batch for the **logical date** (`data_generator --only-day`,
byte-identical to a full run's files) into the landing zone, then loads it into the `bronze` schema
(`ingestion`: bulk, idempotent by file sha256, every row loaded or quarantined in `bronze._rejects`).

* **Reads:** nothing (the generator is seeded: same date, same bytes).
* **Writes:** `data/landing/<table>/<date>.csv`; bronze tables, `bronze._load_audit`, `bronze._rejects`.
* **Publishes:** the `bronze` asset (extra: rows loaded and rejected), which triggers `transform`.
* **Alerts:** every failed task, on Slack (`slack_alerts`) and email (`smtp_alerts`).

`make airflow` resumes after the last day loaded into bronze: the schedule starts the day after
it and catches up one day after another, at most `INGEST_CATCHUP_DAYS` (31) days per start
(`INGEST_START`/`INGEST_END`, set by orchestration/resume.py). Backfill a range explicitly with
`airflow backfill create --dag-id ingest_daily --from-date 2026-01-01 --to-date 2026-01-14`
(a file already loaded is skipped by its sha256, so re-running a day is a no-op). Without
`make airflow`, the schedule starts at `PIPELINE_START` and catches up only with
`INGEST_CATCHUP=true`. Runs are never scheduled before `PIPELINE_START`. A run triggered by hand
for a date outside the window (before `INGEST_START` or after `INGEST_END`) gets no tasks from
Airflow and ends at once without loading anything: use `airflow backfill create` for such days
(a backfill for a day before `PIPELINE_START` fails in `generate_batch`, saying so).
"""


@dag(
    dag_id="ingest_daily",
    schedule=INGEST_SCHEDULE,
    start_date=midnight(INGEST_START),
    end_date=midnight(INGEST_END),
    catchup=CATCHUP or INGEST_END is not None,
    max_active_runs=1,
    default_args=default_args(retries=2, retry_delay=timedelta(minutes=1)),
    doc_md=DOC,
    tags=["ingestion", "bronze"],
)
def ingest_daily():
    @task
    def generate_batch(logical_date=None) -> dict:
        from orchestration.tasks import generate_batch

        return generate_batch(
            logical_day(logical_date), PIPELINE_START, GENERATOR_SCALE, GENERATOR_SEED
        )

    @task(pool=WAREHOUSE_POOL, outlets=[BRONZE])
    def load_bronze(batch: dict, logical_date=None, outlet_events=None) -> dict:
        from orchestration.tasks import load_batch

        summary = load_batch(logical_day(logical_date))
        outlet_events[BRONZE].extra = summary
        return summary

    load_bronze(generate_batch())


ingest_daily()
