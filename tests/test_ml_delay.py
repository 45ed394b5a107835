"""The delivery-delay model on a real warehouse: generated data, loaded, built by dbt, then trained
and promoted in a real MLflow (SQLite in a temporary folder) and scored back into DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ml_support import gate as _gate
from tests.ml_support import ml_warehouse, postgres_warehouse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from ml_warehouse(tmp_path_factory.mktemp("ml"))


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
    from ingestion.warehouse import connect
    from ml import delay

    _gate(True)
    with connect() as duck:
        delay.promote(duck, delay.train(duck)["version"])  # a champion, whatever ran before
        shipments = duck.frame("select * from marts.fct_shipments")
        orders = duck.frame("select order_id, units, lines_count from marts.fct_orders")
    with postgres_warehouse() as pg, connect(pg) as wh:
        wh.write(shipments, "marts", "fct_shipments")
        wh.write(orders, "marts", "fct_orders")
        scored = delay.score(wh)
        n, lo, hi = wh.rows(
            "select count(*), min(late_probability), max(late_probability) "
            "from ml.delivery_risk_scores"
        )[0]
    assert scored["rows"] == n == len(shipments) and 0 <= lo < hi <= 1
