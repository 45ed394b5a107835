"""transform: dbt builds staging, intermediate, marts and metrics when bronze changes (Cosmos)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
from pipeline import (
    BRONZE,
    DBT_MANIFEST,
    DBT_PROJECT,
    MARTS,
    PIPELINE_START,
    TRANSFORM_SELECT,
    WAREHOUSE_POOL,
    WAREHOUSE_TARGET,
    dbt_env_vars,
    dbt_executable,
    default_args,
    release_warehouse,
)

DOC = """
### transform
Runs when the `bronze` asset is updated (so a day's load, or a backfill of many days, triggers one
build). `dbt source freshness` runs first; then one Airflow task per dbt model and its
tests (astronomer-cosmos, rendered from the pre-built `dbt_project/target/manifest.json`: no dbt
parsing when the DAG file is parsed). Incremental facts pick up late-arriving rows through their
lookback window.

* **Reads:** `bronze` (dbt sources).
* **Writes:** schemas `staging`, `intermediate`, `marts`, `metrics` on the `WAREHOUSE_TARGET` engine.
* **Publishes:** the `marts` asset, which triggers `quality_checks`, `ml_retrain` and
  `bi_serving`, and a new marts build id (`MARTS_BUILD_FILE`), which retires the metrics API's
  cached answers.
* **Alerts:** every failed model or test task, on Slack (`slack_alerts`) and email (`smtp_alerts`).

Build the manifest with `python -m orchestration manifest` (or `dbt parse`) after changing models.
"""


@dag(
    dag_id="transform",
    schedule=[BRONZE],
    start_date=datetime(PIPELINE_START.year, PIPELINE_START.month, PIPELINE_START.day),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=1, retry_delay=timedelta(minutes=1)),
    doc_md=DOC,
    tags=["dbt", "marts"],
)
def transform():
    @task(pool=WAREHOUSE_POOL)
    def source_freshness() -> dict:
        from orchestration.tasks import source_freshness

        return source_freshness(WAREHOUSE_TARGET)

    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT,
            manifest_path=DBT_MANIFEST,
            env_vars=dbt_env_vars(),
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="analytics_platform",
            target_name=WAREHOUSE_TARGET,
            profiles_yml_filepath=DBT_PROJECT / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.DBT_RUNNER,
            dbt_executable_path=dbt_executable(),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,
            select=TRANSFORM_SELECT,
            # the marts over the ML score tables are built by ml_retrain, after scoring; unit
            # tests check code on fixed inputs, so they run in development and CI, not daily
            # (dbt_project/selectors.yml `scheduled` is the same selection)
            exclude=["tag:ml", "resource_type:unit_test"],
        ),
        operator_args={
            "pool": WAREHOUSE_POOL,
            "install_deps": False,
            # the producer's in-process `dbt build` leaves dbt-duckdb's connection open: close
            # it when the task ends, so no later task or process meets a conflicting lock
            "post_execute": release_warehouse,
        },
    )

    # Cosmos' watcher mode: one `dbt build` (the producer, with dbt's own threads) and one
    # watcher task per model and per model's tests, which succeed or fail with that node. The
    # watchers start once the producer has finished, so a run behaves the same under the
    # scheduler and under Airflow's sequential runner (`dag.test()`, `make run`).
    producer = dbt.children[f"{dbt.group_id}.dbt_producer_watcher"]
    for child in dbt.children.values():
        if child is not producer and not child.upstream_task_ids & set(dbt.children):
            producer >> child

    @task(outlets=[MARTS])
    def publish_marts(outlet_events=None) -> dict:
        from metrics_api.build import publish_build
        from orchestration.tasks import marts_summary

        summary = marts_summary(WAREHOUSE_TARGET, DBT_MANIFEST)
        # the metrics API's cache keys on this id: a new build retires its cached answers
        summary["build_id"] = publish_build(WAREHOUSE_TARGET).build_id
        outlet_events[MARTS].extra = summary
        return summary

    source_freshness() >> dbt >> publish_marts()


transform()
