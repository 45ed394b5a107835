"""The dbt project parses for the remote engines with dummy credentials (nothing connects)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DBT = Path(sys.executable).parent / "dbt"

DUMMY = {
    "databricks": {
        "DATABRICKS_HOST": "dummy.cloud.databricks.com",
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/dummy",
        "DATABRICKS_TOKEN": "dummy-token",
    },
    "snowflake": {
        "SNOWFLAKE_ACCOUNT": "dummy",
        "SNOWFLAKE_USER": "dummy",
        "SNOWFLAKE_PASSWORD": "dummy",
        "SNOWFLAKE_ROLE": "dummy",
        "SNOWFLAKE_WAREHOUSE": "dummy",
        "SNOWFLAKE_DATABASE": "dummy",
    },
    "spark": {},
}
ADAPTER = {
    "databricks": "dbt.adapters.databricks",
    "snowflake": "dbt.adapters.snowflake",
    "spark": "dbt.adapters.spark",
}


@pytest.mark.parametrize("target", sorted(DUMMY))
def test_dbt_parse_passes_for_the_target(target, tmp_path):
    pytest.importorskip(ADAPTER[target])
    env = {
        **os.environ,
        **DUMMY[target],
        "WAREHOUSE_TARGET": target,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    result = subprocess.run(
        [
            str(DBT),
            "parse",
            "--project-dir",
            "dbt_project",
            "--profiles-dir",
            "dbt_project",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == target
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {
        "stg_bronze__orders",
        "stg_bronze__customer_versions",
        "int_customer_versions",
    } <= models
    # dim_customer is rebuilt by customer (delete+insert) where the engine deletes rows; a
    # table on Spark's plain Parquet
    dim = next(n for n in manifest["nodes"].values() if n["name"] == "dim_customer")
    assert dim["config"]["materialized"] == ("table" if target == "spark" else "incremental")
    bronze = [s for s in manifest["sources"].values() if s["source_name"] == "bronze"]
    assert len(bronze) == 14
