"""The DAG files: they import cleanly under Airflow 3, wire the expected tasks and assets, give every
task an owner, retries and the failure alert, and ``make run`` (``python -m orchestration run``)
drives the four pipeline DAGs to success on the sample days (``bi_serving`` runs in
tests/test_bi_extract.py).

DAGs are loaded in a subprocess with a private Airflow home, as Airflow itself would load them.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.airflow_support import PY, ROOT, platform_env, run

INSPECT = r"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
sys.path.insert(0, sys.argv[1])  # as Airflow's DAG processor does for the DAGs folder
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "schedule": str(dag.schedule),
        "assets_in": sorted(
            a.name for a in getattr(getattr(dag.timetable, "asset_condition", None), "objects", [])
        ),
        "doc": bool(dag.doc_md),
        "tasks": {
            t.task_id: {
                "owner": t.owner,
                "retries": t.retries,
                "callbacks": [getattr(c, "__name__", str(c)) for c in (t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]) if c],
                "pool": t.pool,
                "upstream": sorted(t.upstream_task_ids),
                "outlets": sorted(getattr(o, "name", str(o)) for o in t.outlets),
            }
            for t in dag.tasks
        },
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def dags(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("dags")
    env = platform_env(work)
    # the transform DAG renders from a pre-built manifest
    dbt = str(Path(PY).parent / "dbt")
    run(
        env,
        dbt,
        "parse",
        "--project-dir",
        str(ROOT / "dbt_project"),
        "--profiles-dir",
        str(ROOT / "dbt_project"),
        "--target-path",
        str(work / "dbt_target"),
        "--quiet",
    )
    done = run(env, PY, "-c", INSPECT, str(ROOT / "dags"))
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dagbag_has_no_import_errors_and_the_five_dags(dags):
    assert dags["errors"] == {}
    assert set(dags["dags"]) == {
        "ingest_daily",
        "transform",
        "quality_checks",
        "ml_retrain",
        "bi_reports",
        "bi_serving",
    }
    assert all(d["doc"] for d in dags["dags"].values()), "every DAG has a doc_md"


def test_downstream_dags_run_on_assets_not_clock_offsets(dags):
    d = dags["dags"]
    assert d["ingest_daily"]["tasks"]["load_bronze"]["outlets"] == ["bronze"]
    assert d["transform"]["assets_in"] == ["bronze"]
    assert d["transform"]["tasks"]["publish_marts"]["outlets"] == ["marts"]
    assert d["quality_checks"]["assets_in"] == ["marts"]
    assert d["ml_retrain"]["assets_in"] == ["marts"]
    assert d["bi_serving"]["assets_in"] == ["marts"]
    assert d["bi_serving"]["tasks"]["publish_bi"]["outlets"] == ["bi_extracts"]
    assert "0 4 * * 1" in d["ml_retrain"]["schedule"]  # and weekly


def test_task_dependencies(dags):
    ingest = dags["dags"]["ingest_daily"]["tasks"]
    assert ingest["load_bronze"]["upstream"] == ["generate_batch"]
    transform = dags["dags"]["transform"]["tasks"]
    assert transform["dbt.dbt_producer_watcher"]["upstream"] == ["source_freshness"]
    models = {t.split(".")[1] for t in transform if t.endswith(".run")}
    assert {
        "stg_bronze__orders",
        "dim_product",
        "fct_order_lines",
        "metrics_sales_performance",
    } <= models
    # a model's tests run after the model; a mart after the staging model it reads
    assert "dbt.fct_order_lines.run" in transform["dbt.fct_order_lines.test"]["upstream"]
    assert "dbt.dbt_producer_watcher_done" in transform["publish_marts"]["upstream"] or any(
        u.startswith("dbt.") for u in transform["publish_marts"]["upstream"]
    )
    quality = dags["dags"]["quality_checks"]["tasks"]
    assert sorted(quality["publish_results"]["upstream"]) == [
        "anomalies",
        "bronze_gate",
        "freshness",
        "mart_checks",
    ]
    ml = dags["dags"]["ml_retrain"]["tasks"]
    for model in ("delivery_delay", "demand"):
        assert ml[f"retrain_{model}"]["upstream"] == [f"due_{model}"]
        assert ml[f"score_{model}"]["upstream"] == [f"retrain_{model}"]
    assert ml["build_ml_marts"]["upstream"] == ["score_delivery_delay", "score_demand"]
    assert ml["build_ml_marts"]["outlets"] == ["ml_scores"]
    # the transform DAG leaves the marts over the score tables to ml_retrain
    assert not any(t.startswith(("dbt.fct_delivery_risk", "dbt.stg_ml__")) for t in transform)


def test_every_task_has_an_owner_retries_and_the_failure_alert(dags):
    for dag_id, dag in dags["dags"].items():
        for task_id, task in dag["tasks"].items():
            where = f"{dag_id}.{task_id}"
            assert task["owner"] == "data-platform", where
            assert task["retries"] >= 1, where
            assert "on_task_failure" in task["callbacks"], where


def test_warehouse_writers_share_the_pool(dags):
    d = dags["dags"]
    assert d["ingest_daily"]["tasks"]["load_bronze"]["pool"] == "warehouse_writes"
    assert d["transform"]["tasks"]["source_freshness"]["pool"] == "warehouse_writes"
    assert d["transform"]["tasks"]["dbt.dbt_producer_watcher"]["pool"] == "warehouse_writes"
    for task_id in ("bronze_gate", "mart_checks", "freshness", "anomalies"):
        assert d["quality_checks"]["tasks"][task_id]["pool"] == "warehouse_writes", task_id
    assert d["bi_serving"]["tasks"]["publish_bi"]["pool"] == "warehouse_writes"


def test_dag_files_pass_ruff_airflow_rules():
    done = subprocess.run(
        [PY, "-m", "ruff", "check", "--select", "AIR", "dags", "orchestration"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.slow
def test_make_run_drives_the_four_dags_to_success_and_prints_the_summary(tmp_path):
    env = platform_env(tmp_path)
    done = run(
        env, PY, "-m", "orchestration", "run", "--start", "2026-01-01", "--days", "14", timeout=900
    )
    out = done.stdout
    # quiet: one line per DAG run, the summary; the libraries' logs went to the file it names
    lines = out.strip().splitlines()
    assert len(lines) <= 60, f"{len(lines)} lines:\n{out}"
    log = Path(re.search(r"logs: (\S+run-\S+\.log)", lines[0]).group(1))
    text = log.read_text()
    assert "Cosmos" in text or "cosmos" in text, text[-2000:]
    assert len(text.splitlines()) > 10 * len(lines)
    assert "Traceback" not in out and "INFO" not in out
    for line in (
        "ingest_daily 2026-01-14: success",
        "transform: success",
        "quality_checks: success",
        "ml_retrain: success",
        "rows per layer:",
        "where to look:",
        "MLflow UI",
        "Airflow UI",
    ):
        assert line in out, out[-3000:]
    # the generated landing zone is the committed sample, byte for byte
    landing, sample = tmp_path / "landing", ROOT / "sample_data"
    for f in sample.rglob("*.csv"):
        assert (landing / f.relative_to(sample)).read_bytes() == f.read_bytes(), f
    with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as db:
        runs = dict(
            db.execute(
                "select dag_id, count(*) from dag_run where state='success' group by dag_id"
            ).fetchall()
        )
        not_ok = db.execute(
            "select dag_id, task_id, state from task_instance where state != 'success'"
        ).fetchall()
    assert runs == {"ingest_daily": 14, "transform": 1, "quality_checks": 1, "ml_retrain": 1}
    assert not_ok == []
    # the transform published the marts build id the metrics API's cache keys on
    assert json.loads((tmp_path / "local" / "marts_build.json").read_text())["target"] == "duckdb"
    import duckdb

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    lines = con.execute("select count(*) from marts.fct_order_lines").fetchall()[0][0]
    sample_lines = sum(sum(1 for _ in f.open()) - 1 for f in (sample / "order_lines").glob("*.csv"))
    assert lines == sample_lines
    # both models hold a champion, scored into the warehouse and into their dbt marts
    risk = con.execute("select count(*) from marts.fct_delivery_risk").fetchall()[0][0]
    shipments = con.execute("select count(*) from marts.fct_shipments").fetchall()[0][0]
    forecast = con.execute(
        "select count(*), count(distinct category), min(horizon_days), max(horizon_days) "
        "from marts.fct_demand_forecast"
    ).fetchall()[0]
    assert risk == shipments > 0
    assert forecast == (6 * 14, 6, 1, 14)
    for model in ("delivery_delay", "demand"):
        assert re.search(rf"{model} +v\d+ is champion", out), out[-3000:]
