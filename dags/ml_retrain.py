"""ml_retrain: retrain, promote and score the ML models on the marts."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from pipeline import (
    MARTS,
    ML_SCORES,
    PIPELINE_START,
    WAREHOUSE_POOL,
    WAREHOUSE_TARGET,
    default_args,
)

MODELS = ("delivery_delay", "demand")

DOC = """
### ml_retrain
Runs weekly (Monday 04:00 UTC) and whenever the `marts` asset is updated. Reads features from the
marts only. For each model (`delivery_delay`: late-delivery risk per shipment; `demand`: units per
category for the next 14 days):

1. `due_<model>`: drift check, champion's training window against the latest days (delay: each
   feature's PSI by kind over 7 days; demand: the forecast's bias and error over 14 days; see
   `ml/drift.py`), stored in `ml.feature_drift`. A weekly or manual run always retrains; a run
   triggered by a marts update retrains only when something drifted or there is no champion
   (otherwise `retrain_<model>` is skipped).
2. `retrain_<model>`: train, log to MLflow (`MLFLOW_TRACKING_URI`, default SQLite under
   `.local/mlflow`), register a version; it takes `champion` only if it beats its baseline and the
   current champion on the same holdout and the latest bronze quality gate passed, else
   `challenger` (an alert says which and why); the champion it replaces keeps the alias
   `previous_champion`.
3. `score_<model>`: `models:/<model>@champion` into `ml.delivery_risk_scores` / `ml.demand_forecast`.

Then `build_ml_marts` runs `dbt build --select tag:ml` (`fct_delivery_risk`, `fct_demand_forecast`).

* **Reads:** marts (`fct_shipments`, `fct_orders`, `fct_order_lines`, `dim_product`),
  `quality.check_results`.
* **Writes:** `ml.*` score and drift tables, the `tag:ml` dbt marts; MLflow runs and versions.
* **Publishes:** the `ml_scores` asset.
* **Alerts:** each promotion outcome and every failed task, on Slack and email.
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
    @task(pool=WAREHOUSE_POOL)
    def due(model: str, dag_run=None) -> dict:
        from ml.tasks import due

        return due(model, str(getattr(dag_run.run_type, "value", dag_run.run_type)))

    @task(pool=WAREHOUSE_POOL)
    def retrain(model: str, decision: dict) -> dict:
        from airflow.exceptions import AirflowSkipException

        from ml.tasks import retrain

        if not decision["retrain"]:
            raise AirflowSkipException(f"{model}: {decision['why']}")
        return retrain(model)

    @task(pool=WAREHOUSE_POOL, trigger_rule="none_failed")
    def score(model: str) -> dict:
        from ml.tasks import score

        return score(model)

    @task(outlets=[ML_SCORES], pool=WAREHOUSE_POOL, trigger_rule="none_failed")
    def build_ml_marts() -> dict:
        from ml.tasks import build_ml_marts

        return build_ml_marts(WAREHOUSE_TARGET)

    marts = build_ml_marts()
    for model in MODELS:
        decision = due.override(task_id=f"due_{model}")(model)
        trained = retrain.override(task_id=f"retrain_{model}")(model, decision)
        trained >> score.override(task_id=f"score_{model}")(model) >> marts


ml_retrain()
