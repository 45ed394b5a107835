"""Project-structure checks over dbt's manifest: docs, primary-key tests, layers, names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.contracts import CONTRACTS
from ingestion.dbt_sources import LOADED_AT_QUERY

ROOT = Path(__file__).resolve().parent.parent
DBT = Path(sys.executable).parent / "dbt"
PREFIX = {
    "staging": r"stg_[a-z]+__[a-z_]+",
    "intermediate": r"int_[a-z_]+",
    "marts": r"(dim|fct)_[a-z_]+",
    "metrics": r"metrics_[a-z_]+",
    "ml": r"(stg_ml__|fct_)[a-z_]+",  # staging over the ML score tables, and marts on top
    "semantic": r"metricflow_time_spine",  # the MetricFlow time spine (semantic_models in YAML)
}
PK_TESTS = {"unique", "unique_combination_of_columns"}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    target = tmp_path_factory.mktemp("parse")
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "duckdb",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DUCKDB_PATH": str(target / "parse.duckdb"),
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
            str(target),
            "--log-path",
            str(target),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return json.loads((target / "manifest.json").read_text())


def _models(manifest: dict) -> list[dict]:
    return [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["package_name"] == "analytics_platform"
    ]


def _layer(node: dict) -> str:
    return Path(node["original_file_path"]).parts[1]  # models/<layer>/...


def test_every_model_is_documented_with_its_grain_and_columns(manifest):
    missing = []
    for node in _models(manifest):
        if not node["description"].strip():
            missing.append(f"{node['name']}: no description")
        if not node["columns"]:
            missing.append(f"{node['name']}: no columns documented")
        missing += [
            f"{node['name']}.{c}: no description"
            for c, col in node["columns"].items()
            if not col["description"].strip()
        ]
    assert missing == []


def test_every_model_has_a_primary_key_test(manifest):
    tested = set()
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and meta.get("name") in PK_TESTS:
            tested.update(node["depends_on"]["nodes"])
    untested = sorted(n["name"] for n in _models(manifest) if n["unique_id"] not in tested)
    assert untested == []


def test_model_names_say_their_layer(manifest):
    wrong = [
        f"{_layer(n)}/{n['name']}"
        for n in _models(manifest)
        if _layer(n) in PREFIX and not re.fullmatch(PREFIX[_layer(n)], n["name"])
    ]
    assert wrong == []
    assert all(_layer(n) in PREFIX for n in _models(manifest))


def test_only_staging_reads_sources_and_staging_reads_nothing_else(manifest):
    bad = []
    for node in _models(manifest):
        deps = node["depends_on"]["nodes"]
        reads_source = any(d.startswith("source.") for d in deps)
        staging = node["name"].startswith("stg_")
        if not staging and reads_source:
            bad.append(f"{node['name']} reads a source directly")
        if staging and any(d.startswith("model.") for d in deps):
            bad.append(f"{node['name']} (staging) reads another model")
    assert bad == []


def test_intermediate_models_are_protected_views_of_the_data_platform_over_staging(manifest):
    intermediate = {n["name"]: n for n in _models(manifest) if _layer(n) == "intermediate"}
    assert {(n["schema"], n["access"], n["group"]) for n in intermediate.values()} == {
        ("intermediate", "protected", "data_platform")
    }
    # the validity windows: views over the staging versions
    windows = [n for name, n in intermediate.items() if name.endswith("_versions")]
    assert windows
    assert {n["config"]["materialized"] for n in windows} == {"view"}
    assert all(
        d.startswith(("model.analytics_platform.stg_", "model.analytics_platform.int_"))
        for n in windows
        for d in n["depends_on"]["nodes"]
    )
    # and one incremental table: the customers' orders by month, over fct_orders, read by the
    # customer metrics only
    months = intermediate.pop("int_customer_order_months")
    assert months["config"]["materialized"] == "incremental"
    assert months["depends_on"]["nodes"] == ["model.analytics_platform.fct_orders"]
    readers = {
        n["name"] for n in _models(manifest) if months["unique_id"] in n["depends_on"]["nodes"]
    }
    assert readers == {"metrics_customer_cohorts", "metrics_customer_analytics"}
    assert set(intermediate) == {n["name"] for n in windows}


@pytest.mark.parametrize("entity", ["customer", "product"])
def test_a_versioned_entity_has_one_staging_model_windowed_in_intermediate(manifest, entity):
    """stg_bronze__<entity>_versions (every version) -> int_<entity>_versions (validity window)
    -> dim_<entity> (SCD2); the latest version is `where is_current`, not a model of its own."""
    models = {n["name"]: n for n in _models(manifest)}
    staged = [m for m in models if m.startswith(f"stg_bronze__{entity}")]
    assert staged == [f"stg_bronze__{entity}_versions"]
    window = models[f"int_{entity}_versions"]
    assert window["depends_on"]["nodes"] == [models[staged[0]]["unique_id"]]
    assert models[f"dim_{entity}"]["depends_on"]["nodes"] == [window["unique_id"]]
    # the dims hold the history: no dbt snapshot beside them
    assert [n for n in manifest["nodes"].values() if n["resource_type"] == "snapshot"] == []


def test_contracted_models_declare_every_column_type(manifest):
    bad = [
        f"{n['name']}.{c}"
        for n in _models(manifest)
        if n["config"].get("contract", {}).get("enforced")
        for c, col in n["columns"].items()
        if not col.get("data_type")
    ]
    assert bad == []


def test_every_daily_source_declares_freshness_from_the_load_audit(manifest):
    """Fresh when a file was loaded, rows or not (tests/test_dbt_freshness.py runs it)."""
    sources = {s["name"]: s for s in manifest["sources"].values() if s["source_name"] == "bronze"}
    assert set(sources) == set(CONTRACTS)
    for name, source in sources.items():
        assert source["loaded_at_query"] == LOADED_AT_QUERY, name
        assert not source.get("loaded_at_field"), name
        freshness = source.get("freshness") or {}
        has = bool(freshness.get("warn_after", {}).get("count"))
        # reference tables are written once, on the first day: no daily freshness expected
        assert has != CONTRACTS[name].reference, name


def test_contracted_incremental_models_fail_when_a_run_changes_their_column_types(manifest):
    """An incremental run whose SQL yields other types than the contract the table was created
    with fails (instead of inserting into it silently); tests/test_dbt_daily.py runs every one
    incrementally on each engine, so a contract that differs from the SQL shows there."""
    incremental = [
        n
        for n in _models(manifest)
        if n["config"]["materialized"] == "incremental"
        and n["config"].get("contract", {}).get("enforced")
    ]
    assert {n["name"] for n in incremental} >= {"fct_orders", "metrics_sales_performance"}
    assert {n["name"]: n["config"]["on_schema_change"] for n in incremental} == {
        n["name"]: "fail" for n in incremental
    }
