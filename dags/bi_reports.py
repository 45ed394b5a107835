"""bi_reports: the weekly business review workbook, written and emailed every Monday. The task
body lives in ``bi/excel.py``."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import CronTriggerTimetable, dag, task
from pipeline import PIPELINE_START, WAREHOUSE_POOL, default_args

DOC = """
### bi_reports
Runs every Monday at 06:00 UTC.

* **excel_report**: the weekly business review of the previous ISO week (Monday to Sunday
  before the run's logical date) as an `.xlsx` workbook (`python -m bi report --week
  YYYY-Www` does the same by hand): a `KPIs` sheet (net revenue, orders, units, on-time
  delivery rate, defect rate, waste, return rate, each against the week before, with four
  native charts) and a sheet of daily figures per subject (sales, delivery, quality,
  sustainability). Rates are the week's numerator over its denominator.

* **Reads:** `metrics.metrics_sales_performance`, `metrics_delivery_performance`,
  `metrics_quality`, `metrics_sustainability`; `marts.fct_orders`, `fct_returns`,
  `fct_quality_inspections` (where a metrics table lacks the parts; see `bi/review.py`).
* **Writes:** `.local/bi/reports/weekly_review_<YYYY-Www>.xlsx` (`BI_REPORTS_DIR`).
* **Emails:** the workbook, with the KPI lines in the body, through the `smtp_alerts`
  connection (recipients: its `to` extra, else `SMTP_TO`); without it, through `SMTP_*`.
* **Alerts:** a failed task (no data for the week, a mail server that refuses the email), on
  Slack (`slack_alerts`) and email (`smtp_alerts`).
"""


@dag(
    dag_id="bi_reports",
    schedule=CronTriggerTimetable("0 6 * * 1", timezone="UTC"),
    start_date=datetime(PIPELINE_START.year, PIPELINE_START.month, PIPELINE_START.day),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=1, retry_delay=timedelta(minutes=10)),
    doc_md=DOC,
    tags=["bi"],
)
def bi_reports():
    # in the pool: on DuckDB a reader needs the file to itself, as a writer does
    @task(pool=WAREHOUSE_POOL)
    def excel_report(logical_date=None, dag_run=None) -> dict:
        from bi.excel import excel_report_task

        # a manual run in Airflow 3 may have no logical date: report on the week before it ran
        return excel_report_task(logical_date or dag_run.run_after)

    excel_report()


bi_reports()
