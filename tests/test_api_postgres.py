"""The metrics API on PostgreSQL (the server on 127.0.0.1): the reader logs in as the reader login,
cannot write, is stopped by its statement timeout, and MetricFlow compiles in PostgreSQL's dialect
from a semantic manifest parsed for the ``postgres`` target.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from metrics_api.engine import QueryTimeout, Reader, WarehouseBusy
from metrics_api.semantic import SemanticLayer
from metrics_api.settings import ApiSettings
from tests.conftest import PG_ENV

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def reader_role():
    """A login role with no grants (what ``analytics_reader`` is, less its SELECT grants)."""
    import psycopg

    name = f"api_reader_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(
        host=PG_ENV["PGHOST"], port=PG_ENV["PGPORT"], user=PG_ENV["PGUSER"],
        dbname=PG_ENV["PGDATABASE"], autocommit=True,
    )  # fmt: skip
    admin.execute(f"create role {name} login password 'not-a-secret'")
    try:
        yield name
    finally:
        admin.execute(f"drop role if exists {name}")
        admin.close()


def _settings(**extra: str) -> ApiSettings:
    return ApiSettings.from_env({**os.environ, **PG_ENV, "WAREHOUSE_TARGET": "postgres", **extra})


def test_the_reader_logs_in_as_the_reader_login_and_cannot_write(reader_role):
    reader = Reader(
        _settings(WAREHOUSE_READER_ROLE=reader_role, WAREHOUSE_READER_PASSWORD="not-a-secret")
    )
    row = reader.run(
        "select current_user as who, current_setting('transaction_read_only') as ro"
    ).to_pylist()
    assert row == [{"who": reader_role, "ro": "on"}]
    import psycopg

    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.run("create table api_should_not_exist (a int)")
    # the default is the analytics_reader role, never PGUSER (the pipeline or superuser login):
    # the suite makes it NOLOGIN, so the server refuses it by name
    with pytest.raises(WarehouseBusy, match='role "analytics_reader" is not permitted'):
        Reader(_settings()).run("select current_user as who")


def test_a_query_over_the_statement_timeout_is_stopped(reader_role):
    reader = Reader(_settings(API_STATEMENT_TIMEOUT="0.5", WAREHOUSE_READER_ROLE=reader_role))
    with pytest.raises(QueryTimeout, match=r"longer than 0\.5 s"):
        reader.run("select pg_sleep(5)")
    assert reader.run("select 1 as one").column("one").to_pylist() == [1]


def test_metricflow_compiles_for_postgres_from_the_postgres_manifest(tmp_path):
    env = {
        **os.environ,
        **PG_ENV,
        "WAREHOUSE_TARGET": "postgres",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    project = ROOT / "dbt_project"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--project-dir", str(project),
         "--profiles-dir", str(project), "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs"), "--quiet"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    layer = SemanticLayer(tmp_path / "target" / "semantic_manifest.json", "postgres")
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    sql = layer.compile(
        "t",
        MetricFlowQueryRequest.create(
            metric_names=["on_time_rate"], group_by_names=["metric_time__week"], limit=10
        ),
    )
    database = PG_ENV["PGDATABASE"]
    assert layer.database == database
    assert f'"{database}"."marts"."fct_shipments"' in sql
    assert "DATE_TRUNC('week', shipped_date)" in sql
    assert "CAST(on_time_shipments AS DOUBLE PRECISION)" in sql  # PostgreSQL's type name
