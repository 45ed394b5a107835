"""The delivery-delay model on a real warehouse: generated data, loaded, built by dbt, then trained
and promoted in a real MLflow (SQLite in a temporary folder) and scored back into DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from data_generator import generate
from tests.dbt_support import run_dbt

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = tmp_path_factory.mktemp("ml")
    landing = work / "landing"
    generate(start=date(2026, 1, 1), days=120, scale=0.1, seed=42, out=landing)
    e = {
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(work / "wh.duckdb"),
        "LANDING_DIR": str(landing),
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_LOCATION": (work / "artifacts").as_uri(),
        "ALERT_STATE_PATH": str(work / "alerts.sqlite"),
        "ALERT_SUPPRESS_MINUTES": "0",
        "ML_DBT_TARGET": str(work / "target"),
    }
    old = {k: os.environ.get(k) for k in e}
    os.environ.update(e)
    done = subprocess.run(
        [sys.executable, "-m", "ingestion", "load", "--all"],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    built = run_dbt(work, e, "run", "--select", "+fct_shipments", "+fct_orders")
    assert built.returncode == 0, built.stdout[-4000:]
    yield e
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _gate(passed: bool) -> None:
    from ingestion.warehouse import connect

    rows = pd.DataFrame(
        {
            "run_id": ["r-pass" if passed else "r-fail"],
            "checked_at": [pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))],
            "layer": ["bronze"],
            "check_date": [pd.Timestamp("2026-04-30")],
            "suite": ["bronze.shipments"],
            "expectation": ["expect_column_values_to_not_be_null"],
            "column_name": ["shipment_id"],
            "severity": ["error"],
            "success": [passed],
            "unexpected_count": [0 if passed else 3],
            "observed": ["0" if passed else "3"],
            "data_docs_url": [""],
        }
    )
    with connect() as wh:
        wh.write(rows, "quality", "check_results")


def test_no_gate_table_means_gate_not_passed(env):
    from ingestion.warehouse import connect
    from ml.gate import latest_gate

    with connect() as wh:
        assert latest_gate(wh).reason.startswith("no quality gate result")


def test_model_beats_base_rate_and_carrier_baseline_and_is_promoted(env):
    from ingestion.warehouse import connect
    from ml import delay

    _gate(True)
    with connect() as wh:
        trained = delay.train(wh)
        print("delay metrics:", trained)
        assert trained["roc_auc"] >= 0.75
        assert trained["roc_auc"] > trained["carrier_baseline_roc_auc"] + 0.05
        promoted = delay.promote(wh, trained["version"])
        assert promoted["alias"] == "champion", promoted
        scored = delay.score(wh)
        n, lo, hi = wh.rows(
            "select count(*), min(late_probability), max(late_probability) "
            "from ml.delivery_risk_scores"
        )[0]
    assert scored["rows"] == n > 1000 and 0 <= lo < hi <= 1


def test_shuffled_labels_model_is_not_promoted(env):
    from mlflow.tracking import MlflowClient

    from ingestion.warehouse import connect
    from ml import config, delay

    with connect() as wh:
        trained = delay.train(wh, shuffle_labels=True)
        assert trained["roc_auc"] < 0.6
        promoted = delay.promote(wh, trained["version"])
    assert promoted["alias"] == "challenger"
    assert "validation failed" in promoted["why"]
    champion = MlflowClient().get_model_version_by_alias(config.DELAY_MODEL, "champion")
    assert champion.version != trained["version"]


def test_good_model_is_not_promoted_when_the_quality_gate_failed(env):
    from ingestion.warehouse import connect
    from ml import delay

    _gate(False)
    with connect() as wh:
        trained = delay.train(wh, seed=1)
        promoted = delay.promote(wh, trained["version"])
    assert promoted["alias"] == "challenger"
    assert "quality gate r-fail failed 1 error expectation" in promoted["why"]


@pytest.mark.postgres
def test_champion_scores_into_postgres(env):
    """The same champion scores marts held in PostgreSQL (a fresh database, dropped after)."""
    import uuid

    import psycopg

    from ingestion.warehouse import connect
    from ml import delay

    _gate(True)
    with connect() as duck:
        delay.promote(duck, delay.train(duck)["version"])  # a champion, whatever ran before
        shipments = duck.frame("select * from marts.fct_shipments")
        orders = duck.frame("select order_id, units, lines_count from marts.fct_orders")
    db = f"ml_t{uuid.uuid4().hex[:10]}"
    admin = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
    with psycopg.connect(**admin, autocommit=True) as con:
        con.execute(f"create database {db}")
    pg = {
        "WAREHOUSE_TARGET": "postgres",
        "PGHOST": "127.0.0.1",
        "PGPORT": "5432",
        "PGUSER": "postgres",
        "PGDATABASE": db,
    }
    try:
        with connect({**os.environ, **pg}) as wh:
            wh.write(shipments, "marts", "fct_shipments")
            wh.write(orders, "marts", "fct_orders")
            scored = delay.score(wh)
            n, lo, hi = wh.rows(
                "select count(*), min(late_probability), max(late_probability) "
                "from ml.delivery_risk_scores"
            )[0]
        assert scored["rows"] == n == len(shipments) and 0 <= lo < hi <= 1
    finally:
        with psycopg.connect(**admin, autocommit=True) as con:
            con.execute(f"drop database if exists {db} with (force)")
