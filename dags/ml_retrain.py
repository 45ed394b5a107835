"""ml_retrain: retrain, promote and score the ML models on the marts."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from pipeline import MARTS, ML_SCORES, PIPELINE_START, default_args

DOC = """
### ml_retrain
Runs weekly (Monday 04:00 UTC) and whenever the `marts` asset is updated. Reads features from the
marts only. Training, MLflow tracking, champion/challenger promotion, batch scoring and drift
checks plug in here (issue: ML retraining); today the DAG checks that the marts hold delivered
shipments to learn from.

* **Reads:** marts (`fct_shipments`, `fct_order_lines`).
* **Publishes:** the `ml_scores` asset.
* **Alerts:** every failed task, on Slack (`slack_alerts`) and email (`smtp_alerts`).
"""


@dag(
    dag_id="ml_retrain",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 4 * * 1", timezone="UTC"), assets=[MARTS]
    ),
    start_date=datetime(PIPELINE_START.year, PIPELINE_START.month, PIPELINE_START.day),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=1, retry_delay=timedelta(minutes=5)),
    doc_md=DOC,
    tags=["ml"],
)
def ml_retrain():
    @task(outlets=[ML_SCORES])
    def training_data() -> dict:
        from orchestration.tasks import shipments_for_training

        return shipments_for_training()

    training_data()


ml_retrain()
