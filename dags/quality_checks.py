"""quality_checks: the Great Expectations gates, freshness and anomalies, each time the marts are
rebuilt. Task bodies live in ``quality/tasks.py``."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from pipeline import MARTS, PIPELINE_START, QUALITY_RESULTS, WAREHOUSE_POOL, default_args

DOC = """
### quality_checks
Runs when the `marts` asset is updated, with the suites, SLAs and anomaly settings of
`quality/config.yml`:

* **bronze_gate**: a Great Expectations suite per bronze table (keys, types, ranges and allowed
  values from the contracts, event order, late arrivals) plus the load audit (rows read = loaded + rejected, no failed
  file, no schema drift) and the quarantine (`bronze._rejects`, a warning).
* **mart_checks**: suites on the key facts (keys, not-null, ranges, has rows).
* **freshness**: `dbt source freshness` and each mart's newest date against its SLA.
* **anomalies**: the monitors of `quality/monitors/` on the run's logical date (an
  asset-triggered run: the newest day of any file the loader saw, loaded or skipped, after every
  day since the last one scored, so a catch-up folded into one run leaves no day out): company
  totals against a weekday-adjusted baseline, segments (channel, category, carrier, facility,
  destination state) against the total, the last 7 days against the 4 weeks before (slow drift,
  sparse metrics), and tables that got no newly loaded file that day.
* **publish_results**: alerts on the dbt tests that warned (or failed) in the newest dbt run
  (`run_results.json` beside `DBT_MANIFEST_PATH`, or `QUALITY_DBT_TARGET`), then publishes the
  `quality_results` asset only when no check found an error-severity problem; otherwise it
  fails, and downstream ML does not use the data.

* **Reads:** bronze (with `_load_audit`, `_rejects`), marts, dbt sources, dbt's run_results.json.
* **Writes:** `quality.check_results`, `quality.freshness_results`, `quality.anomaly_results`;
  Data Docs under `.local/quality/data_docs`.
* **Alerts:** every warning/error finding, every dbt test warning and every failed task, on
  Slack (`slack_alerts`) and email (`smtp_alerts`); repeats within `ALERT_SUPPRESS_MINUTES` (60)
  are held back.
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
    @task(pool=WAREHOUSE_POOL)
    def bronze_gate() -> dict:
        from quality.tasks import bronze_gate

        return bronze_gate()

    @task(pool=WAREHOUSE_POOL)
    def mart_checks() -> dict:
        from quality.tasks import mart_checks

        return mart_checks()

    @task(pool=WAREHOUSE_POOL)
    def freshness() -> dict:
        from quality.tasks import freshness_task

        return freshness_task()

    @task(pool=WAREHOUSE_POOL)
    def anomalies(logical_date=None) -> dict:
        from quality.tasks import anomalies_task

        # asset-triggered runs have no logical date: the days since the last scored, then the newest
        return anomalies_task(logical_date.date() if logical_date else None)

    @task(outlets=[QUALITY_RESULTS])
    def publish_results(
        bronze: dict, marts: dict, fresh: dict, anomaly: dict, outlet_events=None
    ) -> dict:
        from quality.tasks import dbt_results_task, publish

        dbt = dbt_results_task()  # alerts only: dbt's errors already failed the transform run
        summary = publish(
            {"bronze": bronze, "marts": marts, "freshness": fresh, "anomalies": anomaly}
        )
        summary["dbt_test_warnings"] = dbt["warnings"]
        outlet_events[QUALITY_RESULTS].extra = summary
        return summary

    publish_results(bronze_gate(), mart_checks(), freshness(), anomalies())


quality_checks()
