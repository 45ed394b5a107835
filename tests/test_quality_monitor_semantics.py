"""The anomaly monitors take their metrics from the dbt semantic layer (issue 16, "one definition
per concept"): every monitor metric but the bronze ``rows_<table>`` volumes names a metric of
``dbt_project/models/semantic/_metrics.yml``, and the SQL the monitor runs carries that metric's
measure expressions with their aggregations, read here straight from the YAML (not through
``quality.monitors.semantic``), so the two definitions cannot drift apart. A name the semantic
layer does not define, a measure over another table, a metric of the wrong shape fail with one
line naming what is wrong; a dimension column named like a fact column cannot capture a
measure's expression."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from ingestion.warehouse import connect
from quality.monitors import semantic
from quality.monitors.metrics import FACTS, METRICS, fact_sql, load_series, measures
from quality.monitors.semantic import SemanticError

ROOT = Path(__file__).resolve().parent.parent
SEMANTIC = ROOT / "dbt_project" / "models" / "semantic"
#: MetricFlow's SQL for each aggregation a monitor may use ({} is the measure's column)
AGG_SQL = {
    "sum": "sum({})",
    "sum_boolean": "sum(case when {} then 1 else 0 end)",
    "count": "count({})",
}


class _AllTables:
    """Enough of a warehouse for ``fact_sql``: every table exists, ``?`` binds a value."""

    mark = "?"

    def table_exists(self, schema: str, table: str) -> bool:
        return True


def _yaml_measures() -> dict[str, tuple[str, str, str]]:
    """measure -> (model, agg, expr) as written in _semantic_models.yml."""
    out = {}
    for sm in yaml.safe_load((SEMANTIC / "_semantic_models.yml").read_text())["semantic_models"]:
        model = sm["model"].split("'")[1]
        for m in sm.get("measures") or []:
            out[m["name"]] = (model, m["agg"], str(m.get("expr", m["name"])).strip())
    return out


def _yaml_metrics() -> dict[str, dict]:
    return {
        m["name"]: m for m in yaml.safe_load((SEMANTIC / "_metrics.yml").read_text())["metrics"]
    }


MONITORED = [m for m in METRICS.values() if not m.fact.startswith("bronze:")]


def test_every_monitor_metric_but_the_bronze_volumes_names_a_semantic_metric():
    defined = _yaml_metrics()
    named = {m.name: m.semantic for m in MONITORED}
    assert all(named.values()), named
    missing = {m: s for m, s in named.items() if s not in defined}
    assert not missing, f"monitor metrics naming no metric of _metrics.yml: {missing}"
    assert {m.semantic for m in METRICS.values() if m.fact.startswith("bronze:")} == {None}
    for m in MONITORED:  # the shape and the table are the monitor's: checked, one line each
        measures(m)


@pytest.mark.parametrize("metric", [m.name for m in MONITORED])
def test_the_monitor_sql_carries_the_semantic_layer_expressions(metric):
    m = METRICS[metric]
    entry, measures_yaml = _yaml_metrics()[m.semantic], _yaml_measures()
    params = entry["type_params"]
    if entry["type"] == "ratio":
        assert m.kind == "rate"
        inputs = [
            _yaml_metrics()[params[k]]["type_params"]["measure"]
            for k in ("numerator", "denominator")
        ]
    else:
        assert m.kind in ("count", "sum")
        inputs = [params["measure"]]
    table = FACTS[m.fact].table
    for dim in (None, *FACTS[m.fact].dimensions):
        sql = fact_sql(_AllTables(), m, dim)
        assert f"from {table}) as fact" in sql, sql
        for measure, column in zip(
            inputs, ("measure_numerator", "measure_denominator"), strict=False
        ):
            model, agg, expr = measures_yaml[measure]
            assert table == f"marts.{model}"
            before = "(select *, " if column == "measure_numerator" else ", "
            assert f"{before}{expr} as {column}" in sql, sql
            inner = (
                f"cast(fact.{column} as double precision)" if m.kind == "sum" else f"fact.{column}"
            )
            alias = "num" if column == "measure_numerator" else "den"
            assert f"{AGG_SQL[agg].format(inner)} as {alias}" in sql, sql


def _renamed(tmp_path: Path, old: str, new: str) -> semantic.Layer:
    """The semantic layer of a copy of the YAML with measure ``old`` renamed ``new``."""
    for name in ("_semantic_models.yml", "_metrics.yml"):
        shutil.copy(SEMANTIC / name, tmp_path / name)
    models = tmp_path / "_semantic_models.yml"
    text = models.read_text()
    assert f"- name: {old}\n" in text
    models.write_text(text.replace(f"- name: {old}\n", f"- name: {new}\n"))
    return semantic.read(models, tmp_path / "_metrics.yml")


def test_a_measure_renamed_in_the_semantic_layer_fails_naming_it(tmp_path, monkeypatch):
    renamed = _renamed(tmp_path, "on_time_shipment_count", "on_time_count")
    assert semantic.layer().measures_of("on_time_rate")[0].name == "on_time_shipment_count"
    monkeypatch.setattr(semantic, "layer", lambda: renamed)
    with pytest.raises(SemanticError) as e:
        fact_sql(_AllTables(), METRICS["on_time_rate"], None)
    assert "names measure 'on_time_shipment_count', which no semantic model defines" in str(e.value)
    assert "_semantic_models.yml" in str(e.value)
    assert fact_sql(_AllTables(), METRICS["revenue"], None)  # the others still read


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"semantic": "on_time_ratio"}, "no metric 'on_time_ratio'"),
        ({"semantic": "on_time_shipments"}, "a rate needs a ratio metric"),
        ({"kind": "count"}, "a count needs a simple metric"),
        (
            {"fact": "shipments", "kind": "count", "semantic": "net_revenue"},
            "is over fct_order_lines",
        ),
        ({"kind": "sum", "semantic": "delivered_shipments"}, "a sum needs a measure with agg sum"),
        ({"kind": "count", "semantic": "cumulative_net_revenue"}, "is 'cumulative'"),
    ],
)
def test_a_monitor_metric_the_semantic_layer_cannot_give_is_an_error(change, message):
    wrong = dataclasses.replace(METRICS["on_time_rate"], **change)
    with pytest.raises(SemanticError, match=message.replace("(", r"\(")):
        measures(wrong)
    assert measures(METRICS["on_time_rate"])[1] is not None


def test_a_dimension_column_named_like_a_measure_column_does_not_capture_it(tmp_path):
    """dim_facility gets a ``quantity_kg`` of its own: waste_kg still sums the fact's."""
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_waste_events as select * from (values "
            "(1, date '2026-01-05', 1, 2.5), (2, date '2026-01-05', 2, 4.0), "
            "(3, date '2026-01-06', 1, 1.0)) as t(waste_event_id, recorded_date, facility_id, "
            "quantity_kg)"
        )
        con.execute(
            "create table marts.dim_facility as select * from (values (1, 'North', 1000.0), "
            "(2, 'South', 2000.0)) as t(facility_id, facility_name, quantity_kg)"
        )
    with connect({"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(db)}) as wh:
        got = load_series(
            wh,
            {"waste_kg": {None, "facility"}, "waste_events": {None}},
            date(2026, 1, 5),
            date(2026, 1, 6),
        )
    [total] = got[("waste_kg", None)]
    assert total.value == {date(2026, 1, 5): 6.5, date(2026, 1, 6): 1.0}
    assert total.squares == {date(2026, 1, 5): 2.5**2 + 4.0**2, date(2026, 1, 6): 1.0}
    by_facility = {s.segment: s.value for s in got[("waste_kg", "facility")]}
    assert by_facility == {
        "North": {date(2026, 1, 5): 2.5, date(2026, 1, 6): 1.0},
        "South": {date(2026, 1, 5): 4.0},
    }
    [events] = got[("waste_events", None)]
    assert events.value == {date(2026, 1, 5): 2.0, date(2026, 1, 6): 1.0}
