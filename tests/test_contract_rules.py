"""A column's value rules (``allowed``, ``range``) live in its table contract only: the dbt source
tests (``_sources.yml``) and the bronze expectation suites are both generated from them, and the
data generator draws its categories from the same lists."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from data_generator import reference as ref
from ingestion.contracts import (
    CONTRACTS,
    FACILITY_TYPES,
    PRODUCT_CATEGORIES,
    SERVICE_LEVELS,
    Range,
    between,
)
from ingestion.dbt_sources import render_sources
from quality.suites import checks_for


def _with_column(monkeypatch, table: str, column: str, **changes) -> None:
    """Replace one column of one contract, for this test only."""
    contract = CONTRACTS[table]
    columns = tuple(
        dataclasses.replace(c, **changes) if c.name == column else c for c in contract.columns
    )
    monkeypatch.setitem(CONTRACTS, table, dataclasses.replace(contract, columns=columns))


def _source_tests(table: str, column: str) -> list[dict]:
    source = yaml.safe_load(render_sources())["sources"][0]
    (spec,) = [t for t in source["tables"] if t["name"] == table]
    (col,) = [c for c in spec["columns"] if c["name"] == column]
    return col.get("data_tests", [])


def _expectations(table: str, column: str, expectation: str) -> list[dict]:
    (suite,) = [s for s in checks_for("bronze", None) if s.suite == f"bronze.{table}"]
    return [c.kwargs for c in suite.checks if c.column == column and c.expectation == expectation]


def test_allowed_values_drive_the_dbt_source_test_and_the_bronze_expectation(monkeypatch):
    before_dbt = _source_tests("orders", "channel")
    before_gx = _expectations("orders", "channel", "expect_column_values_to_be_in_set")
    assert before_dbt == [
        {
            "accepted_values": {
                "arguments": {"values": ["web", "mobile_app", "marketplace", "retail_partner"]}
            }
        }
    ]
    assert [kw["value_set"] for kw in before_gx] == [
        ["web", "mobile_app", "marketplace", "retail_partner"]
    ]

    _with_column(monkeypatch, "orders", "channel", allowed=("web", "kiosk"))

    after_dbt = _source_tests("orders", "channel")
    after_gx = _expectations("orders", "channel", "expect_column_values_to_be_in_set")
    assert after_dbt == [{"accepted_values": {"arguments": {"values": ["web", "kiosk"]}}}]
    assert [kw["value_set"] for kw in after_gx] == [["web", "kiosk"]]
    # the committed _sources.yml no longer matches: the drift test would ask for a regeneration
    assert after_dbt != before_dbt


def test_dropping_a_rule_drops_both_checks(monkeypatch):
    _with_column(monkeypatch, "returns", "status", allowed=())
    assert _source_tests("returns", "status") == []
    assert _expectations("returns", "status", "expect_column_values_to_be_in_set") == []


def test_a_range_drives_the_dbt_source_test_and_the_bronze_expectation(monkeypatch):
    assert _source_tests("delivery_feedback", "rating") == [
        {"value_in_range": {"arguments": {"min_value": 1, "max_value": 5}}}
    ]
    assert _expectations("delivery_feedback", "rating", "expect_column_values_to_be_between") == [
        {"column": "rating", "min_value": 1, "max_value": 5}
    ]

    _with_column(
        monkeypatch, "delivery_feedback", "rating", range=between(0, 10, max_inclusive=False)
    )

    assert _source_tests("delivery_feedback", "rating") == [
        {"value_in_range": {"arguments": {"min_value": 0, "max_value": 10, "max_inclusive": False}}}
    ]
    assert _expectations("delivery_feedback", "rating", "expect_column_values_to_be_between") == [
        {"column": "rating", "min_value": 0, "max_value": 10, "strict_max": True}
    ]


def test_numeric_allowed_values_are_rendered_unquoted(monkeypatch):
    _with_column(monkeypatch, "delivery_feedback", "rating", allowed=(1, 2, 3), range=None)
    assert _source_tests("delivery_feedback", "rating") == [
        {"accepted_values": {"arguments": {"values": [1, 2, 3], "quote": False}}}
    ]


def test_every_value_rule_names_a_contract_column_and_an_open_range_is_refused():
    for contract in CONTRACTS.values():
        for column in contract.columns:
            if column.allowed:
                assert len(set(column.allowed)) == len(column.allowed), (contract.name, column)
            if column.range is not None:
                assert isinstance(column.range, Range)
    with pytest.raises(ValueError, match="needs a min or a max"):
        between()
    with pytest.raises(ValueError, match="above max"):
        between(5, 1)


def test_the_generator_draws_from_the_contract_values():
    """The generator's categories are the contracts' lists (imported, or keyed by them in order),
    so what it writes always passes the generated tests."""
    col = lambda table, name: CONTRACTS[table].column(name).allowed  # noqa: E731
    assert ref.CHANNELS is col("orders", "channel")
    assert ref.SEGMENTS is col("customers", "segment")
    assert ref.RETURN_REASONS is col("returns", "reason")
    assert ref.WASTE_TYPES is col("waste_events", "waste_type")
    assert ref.DISPOSAL_METHODS is col("waste_events", "disposal_method")
    assert ref.WEATHER_CONDITIONS is col("weather_daily", "condition")
    assert tuple(ref.CATEGORIES) == PRODUCT_CATEGORIES == col("products", "category")
    assert tuple(ref.SERVICE_LEVELS) == SERVICE_LEVELS == col("carriers", "service_level")
    assert {c[1] for c in ref.CARRIERS} <= set(SERVICE_LEVELS)
    assert {f[1] for f in ref.FACILITIES} <= set(FACILITY_TYPES)
    assert len(ref.CHANNEL_WEIGHTS) == len(ref.CHANNELS)
    assert len(ref.SEGMENT_WEIGHTS) == len(ref.SEGMENTS)
    assert len(ref.DISPOSAL_COST) == len(ref.DISPOSAL_METHODS)
