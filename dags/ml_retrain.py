"""ml_retrain: retrain, promote and score the ML models on the marts."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from pipeline import MARTS, ML_SCORES, PIPELINE_START, WAREHOUSE_POOL, default_args

DOC = """
### ml_retrain
Runs weekly (Monday 04:00 UTC) and whenever the `marts` asset is updated. Reads features from the
marts only. Trains the delivery-delay classifier (`ml.delay`), logs the run to MLflow
(`MLFLOW_TRACKING_URI`, default SQLite under `.local/mlflow`), registers a new version and gives it
`champion` only if it beats the current champion on the same holdout and the latest bronze quality
gate (`quality.check_results`) passed, else `challenger`; then scores every shipment with
`models:/delivery_delay@champion`.

* **Reads:** marts (`fct_shipments`, `fct_orders`), `quality.check_results`.
* **Writes:** `ml.delivery_risk_scores`; MLflow runs and registered model versions.
* **Publishes:** the `ml_scores` asset.
* **Alerts:** the promotion outcome (which alias, why) and every failed task, on Slack and email.
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
    @task(outlets=[ML_SCORES], pool=WAREHOUSE_POOL)
    def retrain_delivery_delay() -> dict:
        from ml.tasks import retrain_delivery_delay

        return retrain_delivery_delay()

    retrain_delivery_delay()


ml_retrain()
