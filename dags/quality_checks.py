"""quality_checks: gates on bronze and checks on the marts, each time the marts are rebuilt."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from pipeline import MARTS, PIPELINE_START, QUALITY_RESULTS, default_args

DOC = """
### quality_checks
Runs when the `marts` asset is updated. The bronze gate checks that every load reconciles
(rows read = loaded + rejected, no failed file); the mart check that every key fact has rows and
how recent its newest date is. The Great Expectations suites, freshness SLAs and anomaly
detection of `quality/` plug in here (issue: data quality).

* **Reads:** `bronze._load_audit`, marts.
* **Publishes:** the `quality_results` asset when every gate passed; a failed gate fails the run
  and alerts, and downstream ML training does not use the data.
* **Alerts:** every failed task, on Slack (`slack_alerts`) and email (`smtp_alerts`).
"""


@dag(
    dag_id="quality_checks",
    schedule=[MARTS],
    start_date=datetime(PIPELINE_START.year, PIPELINE_START.month, PIPELINE_START.day),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=1, retry_delay=timedelta(minutes=1)),
    doc_md=DOC,
    tags=["quality"],
)
def quality_checks():
    @task
    def bronze_gate() -> dict:
        from orchestration.tasks import audit_reconciles

        return audit_reconciles()

    @task
    def mart_checks() -> dict:
        from orchestration.tasks import marts_newest_dates

        return marts_newest_dates()

    @task(outlets=[QUALITY_RESULTS])
    def publish_results(bronze: dict, marts: dict, outlet_events=None) -> dict:
        summary = {"bronze": bronze, "marts": marts, "passed": True}
        outlet_events[QUALITY_RESULTS].extra = {"passed": True}
        return summary

    publish_results(bronze_gate(), mart_checks())


quality_checks()
