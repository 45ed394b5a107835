"""``quality/config.yml`` as typed settings (:mod:`quality.config_model`): the committed file loads
with the values the checks and monitors use, every kind of mistake fails when the file is loaded
with one line naming the file, the key path and what is allowed, and a valid non-default value
is honoured by the code that reads it."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from quality import settings
from quality.config_model import ConfigError, QualityConfig, display

COMMITTED = Path(settings.PACKAGE) / "config.yml"
RAW = yaml.safe_load(COMMITTED.read_text())


def _load(tmp_path: Path, monkeypatch, edit) -> QualityConfig:
    """``config()`` of a copy of the committed file changed by ``edit`` (via QUALITY_CONFIG)."""
    raw = copy.deepcopy(RAW)
    edit(raw)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.setenv("QUALITY_CONFIG", str(path))
    settings._load.cache_clear()
    return settings.config()


def _error(tmp_path: Path, monkeypatch, edit) -> str:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, monkeypatch, edit)
    message = str(e.value)
    assert "\n" not in message
    prefix = f"{tmp_path / 'config.yml'}: "
    assert message.startswith(prefix), message
    return message.removeprefix(prefix)


def _set(*path, value):
    def edit(raw):
        for key in path[:-1]:
            raw = raw[key]
        raw[path[-1]] = value

    return edit


def _delete(*path):
    def edit(raw):
        for key in path[:-1]:
            raw = raw[key]
        del raw[path[-1]]

    return edit


def test_the_committed_config_loads_typed(monkeypatch):
    monkeypatch.delenv("QUALITY_CONFIG", raising=False)
    settings._load.cache_clear()
    c = settings.config()
    assert c.path == COMMITTED
    assert c.gx.warning_checks == ("rejects_quarantined", "stray_or_waiting_files")
    assert "customers" not in c.bronze  # its value rules are in its contract
    assert c.bronze["shipments"].order == (
        ("promised_at", "shipped_at"),
        ("delivered_at", "shipped_at"),
    )
    late = c.bronze["order_lines"].late_arrival
    assert (late.via, late.key, late.timestamp, late.max_days) == (
        "orders",
        "order_id",
        "ordered_at",
        1,
    )
    assert c.marts["fct_shipments"].key == "shipment_id"
    sla = c.freshness.marts["fct_shipments"]
    assert (sla.column, sla.warn_after_days, sla.error_after_days) == ("shipped_date", 2, 4)
    assert c.freshness.empty_source_severity == "warning"
    assert c.anomalies.severity == "error"
    assert c.anomalies.day.max_ratio_z == 4.0
    assert c.anomalies.rule("defect_rate").direction == "spike"
    assert c.anomalies.rule("revenue").direction == "both"
    assert display(COMMITTED) == "quality/config.yml"
    assert settings.config() is c  # built and checked once per path


def test_an_unknown_section_or_key_names_the_known_ones(tmp_path, monkeypatch):
    assert _error(tmp_path, monkeypatch, _set("anomolies", value={})) == (
        "anomolies is not a known section: use one of gx, bronze, marts, freshness, anomalies"
    )
    assert _error(
        tmp_path, monkeypatch, _set("freshness", "marts", "fct_shipments", "warn_days", value=2)
    ) == (
        "freshness.marts.fct_shipments.warn_days is not a known key: "
        "use one of column, warn_after_days, error_after_days"
    )
    assert _error(tmp_path, monkeypatch, _set("anomalies", "day", "treshold", value=4)).startswith(
        "anomalies.day.treshold is not a known key: use one of window_days, level_days,"
    )
    assert _error(tmp_path, monkeypatch, _set("bronze", "order", value={})).startswith(
        "bronze.order is not a known key: use one of "
    )


def test_a_bronze_value_rule_in_the_config_points_at_the_contracts(tmp_path, monkeypatch):
    # allowed values and ranges of bronze columns moved into ingestion/contracts.py
    edit = _set("bronze", "orders", "sets", value={"channel": ["web"]})
    assert _error(tmp_path, monkeypatch, edit) == (
        "bronze.orders.sets: a bronze column's allowed values and range live in its contract "
        "(ingestion/contracts.py: allowed, range), not here"
    )
    edit = _set("bronze", "orders", "ranges", value={"order_id": [0, None]})
    assert "live in its contract" in _error(tmp_path, monkeypatch, edit)


def test_an_unknown_direction_names_the_allowed_ones(tmp_path, monkeypatch):
    edit = _set("anomalies", "metrics", "on_time_rate", "direction", value="dorp")
    assert _error(tmp_path, monkeypatch, edit) == (
        "anomalies.metrics.on_time_rate.direction='dorp' is not one of both, drop, spike"
    )


def test_an_unknown_severity_or_check_names_the_allowed_ones(tmp_path, monkeypatch):
    assert _error(tmp_path, monkeypatch, _set("anomalies", "severity", value="fatal")) == (
        "anomalies.severity='fatal' is not one of error, warning"
    )
    edit = _set("freshness", "empty_source_severity", value="info")
    assert _error(tmp_path, monkeypatch, edit) == (
        "freshness.empty_source_severity='info' is not one of error, warning"
    )
    edit = _set("gx", "warning_checks", value=["rejects_quarantined", "key_unqiue"])
    assert _error(tmp_path, monkeypatch, edit).startswith(
        "gx.warning_checks[1]='key_unqiue' is not one of allowed_values, columns_match_contract,"
    )


def test_a_wrong_type_is_an_error(tmp_path, monkeypatch):
    assert _error(tmp_path, monkeypatch, _set("anomalies", "day", "threshold", value="5")) == (
        "anomalies.day.threshold='5' is not a number"
    )
    edit = _set("marts", "fct_shipments", "ranges", "distance_km", value=["0", None])
    assert _error(tmp_path, monkeypatch, edit) == (
        "marts.fct_shipments.ranges.distance_km[0]='0' is not a number"
    )
    edit = _set("freshness", "marts", "fct_shipments", "warn_after_days", value=1.5)
    assert _error(tmp_path, monkeypatch, edit) == (
        "freshness.marts.fct_shipments.warn_after_days=1.5 is not a whole number"
    )
    assert _error(tmp_path, monkeypatch, _set("marts", "fct_shipments", "not_null", value="x")) == (
        "marts.fct_shipments.not_null='x' is not a list"
    )


def test_a_negative_or_zero_threshold_is_an_error(tmp_path, monkeypatch):
    assert _error(tmp_path, monkeypatch, _set("anomalies", "weekly", "threshold", value=0)) == (
        "anomalies.weekly.threshold=0 must be greater than 0"
    )
    edit = _set("anomalies", "segments", "min_share", value=-0.1)
    assert _error(tmp_path, monkeypatch, edit) == (
        "anomalies.segments.min_share=-0.1 is below the minimum 0"
    )
    edit = _set("freshness", "marts", "fct_shipments", "warn_after_days", value=-1)
    assert _error(tmp_path, monkeypatch, edit) == (
        "freshness.marts.fct_shipments.warn_after_days=-1 is below the minimum 0"
    )
    edit = _set("freshness", "marts", "fct_shipments", "warn_after_days", value=5)
    assert _error(tmp_path, monkeypatch, edit) == (
        "freshness.marts.fct_shipments.warn_after_days=5 is above error_after_days=4"
    )


def test_a_missing_required_key_is_an_error(tmp_path, monkeypatch):
    assert _error(tmp_path, monkeypatch, _delete("marts", "fct_shipments", "key")) == (
        "marts.fct_shipments.key is missing (required)"
    )
    edit = _delete("freshness", "marts", "fct_order_lines", "column")
    assert _error(tmp_path, monkeypatch, edit) == (
        "freshness.marts.fct_order_lines.column is missing (required)"
    )
    edit = _delete("bronze", "order_lines", "late_arrival", "key")
    assert _error(tmp_path, monkeypatch, edit) == (
        "bronze.order_lines.late_arrival.key is missing (required)"
    )
    edit = _delete("anomalies", "metrics", "waste_kg", "reason")
    assert _error(tmp_path, monkeypatch, edit) == (
        "anomalies.metrics.waste_kg.reason is missing: direction 'spike' watches one way only; "
        "say why the other way is harmless"
    )


def _revenue_jump(day: date, factor: float):
    """Company revenue: 40 steady days, then ``day`` at ``factor`` times the usual."""
    from quality.monitors.metrics import Series

    days = [day - timedelta(days=k) for k in range(40, 0, -1)]
    value = {d: 10_000.0 + 50 * (d.toordinal() % 3) for d in days}
    value[day] = 10_000.0 * factor
    volume = dict.fromkeys([*days, day], 400.0)
    squares = {d: v * v / 400.0 for d, v in value.items()}
    return {
        ("revenue", None): [
            Series("revenue", None, None, value, volume, value, volume, squares=squares)
        ]
    }


@pytest.mark.parametrize(
    ("direction", "factor", "flagged"),
    [
        ("both", 0.3, True),
        ("both", 3.0, True),
        ("drop", 0.3, True),
        ("drop", 3.0, False),
        ("spike", 0.3, False),
        ("spike", 3.0, True),
    ],
)
def test_a_configured_direction_is_honoured_by_the_monitors(
    tmp_path, monkeypatch, direction, factor, flagged
):
    from quality.monitors import score_series

    rule = {"direction": direction, "reason": "a test of the direction"}
    c = _load(tmp_path, monkeypatch, _set("anomalies", "metrics", "revenue", value=rule))
    assert c.anomalies.rule("revenue").direction == direction
    day = date(2024, 6, 1)
    (score,) = score_series(_revenue_jump(day, factor), day, c.anomalies)
    assert score.direction == direction
    assert score.status in ("ok", "anomaly"), score
    assert score.is_anomaly is flagged, score
