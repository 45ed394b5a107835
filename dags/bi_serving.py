"""bi_serving: the Tableau extracts, refreshed each time the marts are rebuilt. Task bodies live
in ``bi/``."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from pipeline import BI_EXTRACTS, MARTS, PIPELINE_START, WAREHOUSE_POOL, default_args

DOC = """
### bi_serving
Runs when the `marts` asset is updated:

* **publish_bi**: `python -m bi extract` in-process (`bi/extract.py`): one Tableau `.hyper`
  extract per mart and metrics table (the dims too), decimals with their scale, dates as dates.
  The incremental facts and metrics (`fct_order_lines`, `fct_orders`, `fct_shipments`,
  `fct_returns`, `fct_delivery_feedback`, `metrics_sales_performance`) are refreshed day by
  day: only the days whose rows changed are replaced in the file; unchanged tables are left
  alone. Every file is recounted and its numeric columns summed by Hyper before it replaces the
  old one: they must equal the warehouse's figures, or the task fails and the old file stays.
  Then it publishes the `bi_extracts` asset, whose extra is the run's summary (extracts, rows,
  what was rewritten, which days were refreshed, seconds).

* **Reads:** the `marts` and `metrics` schemas of the warehouse `WAREHOUSE_TARGET` names (DuckDB
  read-only, or PostgreSQL), the dbt manifest (`DBT_MANIFEST_PATH`).
* **Writes:** `<BI_EXTRACTS_DIR or .local/bi/extracts>/<table>.hyper` and `extracts.json` (per
  extract: table, rows, the sum of every numeric column, columns with types, refreshed days,
  seconds); Hyper's log under `.local/bi/hyper_logs`.
* **Alerts:** a failed task, on Slack (`slack_alerts`) and email (`smtp_alerts`).
"""


@dag(
    dag_id="bi_serving",
    schedule=[MARTS],
    start_date=datetime(PIPELINE_START.year, PIPELINE_START.month, PIPELINE_START.day),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=1, retry_delay=timedelta(minutes=1)),
    doc_md=DOC,
    tags=["bi"],
)
def bi_serving():
    # in the warehouse pool: on DuckDB it reads the file while no task writes it
    @task(pool=WAREHOUSE_POOL, outlets=[BI_EXTRACTS])
    def publish_bi(outlet_events=None) -> dict:
        from bi.extract import refresh_task

        summary = refresh_task()
        outlet_events[BI_EXTRACTS].extra = summary
        return summary

    publish_bi()


bi_serving()
