"""The metrics views (``models/metrics``), built for real on the committed sample data.

One DuckDB warehouse per module gets bronze from the production loader, then a full ``dbt build``
(every model, data test, unit test and reconciliation test) and ``dbt docs generate`` run as
subprocesses. The tests then recompute a few metrics here in Python, from bronze or straight from
the facts, so a fan-out join in a view (revenue counted once per shipment, waste once per
inspection) cannot hide behind a reconciliation test written in the same SQL.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.backends.duckdb import DuckDBBackend
from ingestion.landing import discover
from ingestion.loader import load_files
from tests.dbt_support import run_dbt

EXPOSURES = {
    "tableau_sales_dashboard": "dashboard",
    "tableau_operations_dashboard": "dashboard",
    "tableau_quality_sustainability_dashboard": "dashboard",
    "ml_delivery_delay_risk": "ml",
    "ml_demand_forecast": "ml",
}
ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "dbt_project"
METRICS = {
    "metrics_sales_performance",
    "metrics_daily_orders",
    "metrics_delivery_performance",
    "metrics_quality",
    "metrics_sustainability",
    "metrics_sustainability_daily",
    "metrics_product_performance",
    "metrics_customer_analytics",
    "metrics_customer_cohorts",
    "metrics_customer_satisfaction",
    "metrics_returns_by_reason",
}


def dbt_ok(work: Path, env: dict[str, str], *args: str) -> None:
    result = run_dbt(work, env, *args)
    assert result.returncode == 0, (
        f"dbt {' '.join(args)} failed ({result.returncode}):\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    )


@dataclass
class Built:
    """A DuckDB warehouse with bronze loaded, the project built and the docs generated."""

    target: Path
    query: Callable[[str], list[tuple]]
    run_results: dict

    def scalar(self, sql: str):
        return self.query(sql)[0][0]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    import duckdb

    work = tmp_path_factory.mktemp("metrics")
    landing = work / "landing"
    shutil.copytree(ROOT / "sample_data", landing)
    path = work / "w.duckdb"
    with DuckDBBackend(path) as backend:
        report = load_files(backend, discover(landing))
    assert not report.failed, [f.file for f in report.failed]

    env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(path)}
    dbt_ok(work, env, "build")
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    dbt_ok(work, env, "docs", "generate")

    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()

    return Built(work / "target", query, run_results)


def _latest(rows: list[tuple], key: int, order: tuple[int, int]) -> dict[int, tuple]:
    """The latest version of each key (by load time, then source line), as staging keeps it."""
    latest: dict[int, tuple] = {}
    for row in sorted(rows, key=lambda r: (r[order[0]], r[order[1]])):
        latest[int(row[key])] = row
    return latest


# --------------------------------------------------------------------------- build
def test_build_passes_with_every_metrics_table_and_reconciliation(built):
    results = built.run_results["results"]
    assert {r["status"] for r in results} <= {"success", "pass", "no-op"}  # no-op: exposures
    models = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert models >= METRICS
    reconciliations = {r["unique_id"] for r in results if ".assert_metrics_" in r["unique_id"]}
    assert len(reconciliations) == 9, reconciliations
    unit_tests = {r["unique_id"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert any("metrics_customer_analytics" in u for u in unit_tests)
    # tables, not views: computed once per build, not again by every test and BI query
    tables = {
        r[0]
        for r in built.query(
            "select table_name from information_schema.tables "
            "where table_schema = 'metrics' and table_type = 'BASE TABLE'"
        )
    }
    assert tables == METRICS


# --------------------------------------------------------------------------- recomputed
def test_sales_net_revenue_and_units_equal_bronze_recomputed_in_python(built):
    lines = _latest(
        [
            r
            for r in built.query(
                "select order_line_id, order_id, quantity, unit_price, discount_amount, "
                "_loaded_at, _source_line from bronze.order_lines"
            )
            if None not in r[:5]
        ],
        key=0,
        order=(5, 6),
    )
    orders = {int(r[0]) for r in built.query("select order_id from bronze.orders")}
    # every line keeps its money, its order row there or not (unattributed)
    kept = list(lines.values())

    def net(rows) -> Decimal:
        return sum(
            (Decimal(str(q)) * Decimal(str(p)) - Decimal(str(d)) for _, _, q, p, d, *_ in rows),
            Decimal(0),
        )

    revenue = net(kept)
    attributed = net(r for r in kept if int(r[1]) in orders)
    units = sum(int(r[2]) for r in kept)
    metric_revenue, metric_units, metric_orders = built.query(
        "select sum(net_revenue), sum(units), sum(orders) from metrics.metrics_sales_performance"
    )[0]
    assert Decimal(str(metric_revenue)) == revenue.quantize(Decimal("0.01"))
    assert int(metric_units) == units > 0
    # an order lands in several categories at most once each: never fewer than the orders
    assert int(metric_orders) >= len({int(r[1]) for r in kept})
    product_revenue = built.scalar(
        "select sum(net_revenue) from metrics.metrics_product_performance"
    )
    customer_revenue = built.scalar(
        "select sum(net_revenue) from metrics.metrics_customer_analytics"
    )
    assert Decimal(str(product_revenue)) == revenue.quantize(Decimal("0.01"))
    # customers need an order row: the unattributed lines are not theirs
    assert Decimal(str(customer_revenue)) == attributed.quantize(Decimal("0.01"))


def test_on_time_rate_of_each_carrier_equals_a_direct_computation(built):
    shipments = _latest(
        built.query(
            "select shipment_id, carrier_id, promised_at, delivered_at, _loaded_at, _source_line "
            "from bronze.shipments where carrier_id is not null and promised_at is not null"
        ),
        key=0,
        order=(4, 5),
    )
    fact_count = built.scalar("select count(*) from marts.fct_shipments")
    assert len(shipments) == fact_count
    carriers = {int(r[1]) for r in shipments.values()}
    assert len(carriers) > 1
    for carrier in carriers:
        delivered = [r for r in shipments.values() if int(r[1]) == carrier and r[3] is not None]
        on_time = sum(r[3] <= r[2] for r in delivered)
        metric_on_time, metric_delivered = built.query(
            "select sum(on_time), sum(delivered) from metrics.metrics_delivery_performance "
            f"where carrier_id = {carrier}"
        )[0]
        assert (int(metric_on_time), int(metric_delivered)) == (on_time, len(delivered))
        assert 0 < on_time < len(delivered)


def test_waste_per_unit_uses_production_aggregated_to_the_facility_day(built):
    production = {
        (int(f), d): int(units)
        for f, d, units in built.query(
            "select facility_id, inspected_date, sum(lot_size) "
            "from marts.fct_quality_inspections group by 1, 2"
        )
    }
    rows = built.query(
        "select facility_id, recorded_date, units_produced, waste_kg, waste_kg_per_unit_produced "
        "from metrics.metrics_sustainability"
    )
    assert rows
    for facility, day, units, kg, per_unit in rows:
        assert units == production.get((int(facility), day), 0)
        if units:
            assert abs(Decimal(str(per_unit)) - Decimal(str(kg)) / units) < Decimal("0.000001")
        else:
            assert per_unit is None


def test_rfm_scores_are_quintiles_of_the_customers(built):
    rows = built.query(
        "select recency_score, frequency_score, monetary_score from "
        "metrics.metrics_customer_analytics"
    )
    n = len(rows)
    assert n > 0
    for axis in range(3):
        counts = [sum(r[axis] == score for r in rows) for score in range(1, 6)]
        assert sum(counts) == n
        assert max(counts) - min(counts) <= 1  # ntile(5): sizes differ by at most one


# --------------------------------------------------------------------------- docs
def test_docs_generate_writes_the_site_with_the_metrics_views(built):
    assert (built.target / "index.html").stat().st_size > 0
    catalog = json.loads((built.target / "catalog.json").read_text())
    names = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert names >= METRICS
    sales = catalog["nodes"]["model.analytics_platform.metrics_sales_performance"]
    assert sales["metadata"]["schema"] == "metrics"
    assert {"net_revenue", "units", "orders"} <= set(sales["columns"])


def test_exposures_are_in_the_manifest_with_their_owners_and_dependencies(built):
    manifest = json.loads((built.target / "manifest.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {name: e["type"] for name, e in exposures.items()} == EXPOSURES
    for exposure in exposures.values():
        assert exposure["owner"]["email"].endswith("@example.com")
        assert exposure["url"]
        deps = exposure["depends_on"]["nodes"]
        assert deps and all(d.startswith("model.analytics_platform.") for d in deps)
    sales_deps = exposures["tableau_sales_dashboard"]["depends_on"]["nodes"]
    assert "model.analytics_platform.metrics_sales_performance" in sales_deps
    ml_deps = exposures["ml_demand_forecast"]["depends_on"]["nodes"]
    assert "model.analytics_platform.fct_order_lines" in ml_deps
