"""Metrics that add up: every additive measure of every metrics table, summed over each of its
dimensions (and over none), equals the same figure computed straight from the facts, and every
ratio equals round_half_up(numerator / denominator) of its row, exactly, on DuckDB and PostgreSQL.

The committed sample is loaded into bronze and the whole project built once per engine (the
fixture of tests/test_dbt_marts.py). A measure that repeats on several rows (a count distinct, a
facility-day figure on each disposal method's row) would overshoot the facts when summed over a
dimension and fail here: such columns are documented as non-additive and left out of MEASURES on
purpose, and the last tests show that they would fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import pytest

from ingestion.landing import discover
from ingestion.loader import load_files
from tests.test_dbt_marts import (
    Built,
    _duckdb_query,
    _load_duckdb,
    _postgres_database,
    dbt_ok,
)

pytestmark = pytest.mark.slow

SALES_LINES = (
    "marts.fct_order_lines as f "
    "inner join marts.dim_product as p on f.product_version_key = p.product_version_key"
)
DELIVERED = "case when is_delivered then 1 else 0 end"


@dataclass(frozen=True)
class Fact:
    """Where some of a metrics table's measures come from: a fact (SQL from-clause), how each
    dimension of the table is computed on it, and each measure's aggregate on it."""

    source: str
    dims: dict[str, str]
    measures: dict[str, str]


@dataclass(frozen=True)
class Table:
    dims: tuple[str, ...]
    facts: tuple[Fact, ...]
    # ratio column -> (numerator column, denominator column, decimals)
    ratios: dict[str, tuple[str, str, int]] = field(default_factory=dict)


TABLES = {
    "metrics_customer_satisfaction": Table(
        ("submitted_date", "carrier_name"),
        (
            Fact(
                "marts.fct_delivery_feedback as f "
                "left join marts.dim_carrier as c on f.carrier_id = c.carrier_id",
                {
                    "submitted_date": "f.submitted_date",
                    "carrier_name": "coalesce(c.carrier_name, 'unattributed')",
                },
                {
                    "ratings": "count(f.rating)",
                    "rating_total": "sum(f.rating)",
                    "ratings_4_5": "sum(case when f.rating >= 4 then 1 else 0 end)",
                    "ratings_1_2": "sum(case when f.rating <= 2 then 1 else 0 end)",
                },
            ),
        ),
        {
            "avg_rating": ("rating_total", "ratings", 2),
            "share_4_5_stars": ("ratings_4_5", "ratings", 4),
        },
    ),
    "metrics_returns_by_reason": Table(
        ("requested_date", "reason", "product_category"),
        (
            Fact(
                "marts.fct_returns as f left join marts.dim_product as p "
                "on f.product_version_key = p.product_version_key",
                {
                    "requested_date": "f.requested_date",
                    "reason": "f.reason",
                    "product_category": "coalesce(p.category, 'unattributed')",
                },
                {
                    "returns": "count(*)",
                    "returned_units": "sum(f.quantity)",
                    "refunded_returns": "sum(case when f.is_refunded then 1 else 0 end)",
                    "refund_amount": "sum(f.refund_amount)",
                },
            ),
        ),
        {"refunded_share": ("refunded_returns", "returns", 4)},
    ),
    "metrics_sales_performance": Table(
        ("ordered_date", "product_category", "channel"),
        (
            Fact(
                SALES_LINES,
                {
                    "ordered_date": "f.ordered_date",
                    "product_category": "p.category",
                    "channel": "coalesce(f.channel, 'unattributed')",
                },
                {
                    "lines": "count(*)",
                    "units": "sum(f.quantity)",
                    "gross_revenue": "sum(f.gross_revenue)",
                    "discount": "sum(f.discount_amount)",
                    "net_revenue": "sum(f.net_revenue)",
                    "cost_of_goods": "sum(f.cost_of_goods)",
                    "gross_margin": "sum(f.gross_margin)",
                },
            ),
        ),
    ),
    "metrics_daily_orders": Table(
        ("ordered_date", "channel", "order_status"),
        (
            Fact(
                "marts.fct_orders",
                {c: c for c in ("ordered_date", "channel", "order_status")},
                {
                    "orders": "count(distinct order_id)",
                    "lines": "sum(lines_count)",
                    "units": "sum(units)",
                    "gross_revenue": "sum(gross_revenue)",
                    "discount": "sum(discount_amount)",
                    "net_revenue": "sum(net_revenue)",
                    "orders_excl_cancelled": (
                        "count(distinct case when order_status <> 'cancelled' then order_id end)"
                    ),
                    "gross_revenue_excl_cancelled": (
                        "sum(case when order_status <> 'cancelled' then gross_revenue end)"
                    ),
                    "discount_excl_cancelled": (
                        "sum(case when order_status <> 'cancelled' then discount_amount end)"
                    ),
                    "net_revenue_excl_cancelled": (
                        "sum(case when order_status <> 'cancelled' then net_revenue end)"
                    ),
                },
            ),
        ),
    ),
    "metrics_delivery_performance": Table(
        ("shipped_date", "carrier_id", "destination_state"),
        (
            Fact(
                "marts.fct_shipments",
                {c: c for c in ("shipped_date", "carrier_id", "destination_state")},
                {
                    "shipments": "count(*)",
                    "delivered": f"sum({DELIVERED})",
                    "on_time": "sum(case when is_on_time then 1 else 0 end)",
                    "days_late_total": "sum(case when is_delivered then days_late else 0 end)",
                    "bad_weather_shipments": (
                        "sum(case when destination_weather_condition in ('rain', 'snow', 'storm') "
                        "then 1 else 0 end)"
                    ),
                },
            ),
        ),
        {
            "on_time_rate": ("on_time", "delivered", 4),
            "avg_days_late": ("days_late_total", "delivered", 2),
            "bad_weather_share": ("bad_weather_shipments", "shipments", 4),
        },
    ),
    "metrics_quality": Table(
        ("inspected_date", "facility_id"),
        (
            Fact(
                "marts.fct_quality_inspections",
                {"inspected_date": "inspected_date", "facility_id": "facility_id"},
                {
                    "inspections": "count(*)",
                    "failed": "sum(case when is_failed then 1 else 0 end)",
                    "passed": "sum(case when result = 'pass' then 1 else 0 end)",
                    "units_inspected": "sum(sample_size)",
                    "defects": "sum(defects_found)",
                },
            ),
        ),
        {
            "defect_rate": ("defects", "units_inspected", 4),
            "first_pass_yield": ("passed", "inspections", 4),
        },
    ),
    "metrics_sustainability": Table(
        ("recorded_date", "facility_id", "disposal_method"),
        (
            Fact(
                "marts.fct_waste_events",
                {c: c for c in ("recorded_date", "facility_id", "disposal_method")},
                {
                    "waste_events": "count(*)",
                    "waste_kg": "sum(quantity_kg)",
                    "waste_cost": "sum(cost)",
                },
            ),
        ),
        {"waste_kg_per_unit_produced": ("waste_kg", "units_produced", 6)},
    ),
    "metrics_sustainability_daily": Table(
        ("activity_date", "facility_id"),
        (
            Fact(
                "marts.fct_waste_events",
                {"activity_date": "recorded_date", "facility_id": "facility_id"},
                {
                    "waste_events": "count(*)",
                    "waste_kg": "sum(quantity_kg)",
                    "waste_cost": "sum(cost)",
                },
            ),
            Fact(
                "marts.fct_quality_inspections",
                {"activity_date": "inspected_date", "facility_id": "facility_id"},
                {"units_produced": "sum(lot_size)"},
            ),
        ),
        {"waste_kg_per_unit_produced": ("waste_kg", "units_produced", 6)},
    ),
    "metrics_product_performance": Table(
        ("product_id", "month_start"),
        (
            Fact(
                "marts.fct_order_lines",
                {
                    "product_id": "product_id",
                    "month_start": "cast(date_trunc('month', ordered_date) as date)",
                },
                {"units": "sum(quantity)", "net_revenue": "sum(net_revenue)"},
            ),
            Fact(
                "marts.fct_returns",
                {
                    "product_id": "product_id",
                    "month_start": "cast(date_trunc('month', requested_date) as date)",
                },
                {
                    "returns": "sum(case when product_id is not null then 1 else 0 end)",
                    "returned_units": "sum(case when product_id is not null then quantity end)",
                    "refunds": "sum(case when product_id is not null then refund_amount end)",
                },
            ),
        ),
        {"return_rate": ("returned_units", "units", 4)},
    ),
}


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def built(request, tmp_path_factory) -> Iterator[Built]:
    """The committed sample loaded into bronze and the full project built, once per engine."""
    from tests.test_dbt_marts import ROOT

    landing = ROOT / "sample_data"
    work = tmp_path_factory.mktemp(f"additive_{request.param}")
    if request.param == "duckdb":
        path = work / "w.duckdb"
        _load_duckdb(discover(landing), path)
        env = {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(path)}
        yield Built("duckdb", _duckdb_query(path), dbt_ok(work, env, "build"), env, work)
        return
    import psycopg

    from ingestion.backends.postgres import PostgresBackend

    with _postgres_database() as env:
        conninfo = PostgresBackend.conninfo(env)
        with PostgresBackend("bronze", conninfo) as backend:
            report = load_files(backend, discover(landing))
        assert not report.failed, [f.file for f in report.failed]

        def query(sql: str) -> list[tuple]:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                return conn.execute(sql).fetchall()

        env = {**env, "WAREHOUSE_TARGET": "postgres"}
        yield Built("postgres", query, dbt_ok(work, env, "build"), env, work)


def _dec(value) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def _grouped(built: Built, sql: str, keys: int) -> dict[tuple, tuple[Decimal, ...]]:
    """{group: measures} from rows of (keys..., measures...), groups whose measures are all zero
    left out (a metrics row of production only has zero waste: the facts have no such group)."""
    out = {}
    for row in built.query(sql):
        values = tuple(_dec(v) for v in row[keys:])
        if any(values):
            out[tuple(row[:keys])] = values
    return out


def _sum_over(built: Built, table: str, dim: str | None, measures: list[str]) -> dict:
    select = ", ".join(f"sum({m})" for m in measures)
    if dim is None:
        return _grouped(built, f"select {select} from metrics.{table}", 0)
    return _grouped(built, f"select {dim}, {select} from metrics.{table} group by {dim}", 1)


def _from_fact(built: Built, fact: Fact, dim: str | None) -> dict:
    select = ", ".join(fact.measures.values())
    if dim is None:
        return _grouped(built, f"select {select} from {fact.source}", 0)
    expr = fact.dims[dim]
    return _grouped(built, f"select {expr}, {select} from {fact.source} group by {expr}", 1)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_additive_measure_summed_over_each_dimension_equals_the_facts(built, table):
    spec = TABLES[table]
    for fact in spec.facts:
        measures = list(fact.measures)
        total = _from_fact(built, fact, None)
        assert total and any(total[()]), (table, measures)  # the sample has data for each
        for dim in (None, *spec.dims):
            got = _sum_over(built, table, dim, measures)
            expected = _from_fact(built, fact, dim)
            assert got == expected, (built.engine, table, dim, measures)


@pytest.mark.parametrize("table", sorted(t for t, s in TABLES.items() if s.ratios))
def test_each_ratio_is_its_numerator_over_its_denominator_rounded_half_up(built, table):
    ratios = TABLES[table].ratios
    columns = [c for ratio, (num, den, _) in ratios.items() for c in (ratio, num, den)]
    rows = built.query(f"select {', '.join(columns)} from metrics.{table}")
    assert rows
    checked = 0
    for row in rows:
        for i, (num, den, scale) in enumerate(ratios.values()):
            value, numerator, denominator = row[3 * i : 3 * i + 3]
            if not denominator:
                assert value is None, (table, row)
                continue
            quotient = _dec(numerator) / _dec(denominator)
            expected = quotient.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
            assert _dec(value) == expected, (built.engine, table, num, den, row)
            checked += 1
    assert checked > 0


def test_order_counts_add_up_in_daily_orders_but_not_across_sales_categories(built):
    distinct_orders = built.scalar("select count(*) from marts.fct_orders")
    assert built.scalar("select sum(orders) from metrics.metrics_daily_orders") == distinct_orders
    # orders of metrics_sales_performance is a count distinct per category: documented as
    # non-additive, and the sample has orders with lines in several categories
    summed = built.scalar("select sum(orders) from metrics.metrics_sales_performance")
    assert summed > distinct_orders


def test_units_produced_repeats_per_disposal_method_but_adds_up_per_facility_day(built):
    produced = _dec(built.scalar("select sum(lot_size) from marts.fct_quality_inspections"))
    daily = _dec(
        built.scalar("select sum(units_produced) from metrics.metrics_sustainability_daily")
    )
    repeated = _dec(built.scalar("select sum(units_produced) from metrics.metrics_sustainability"))
    assert daily == produced > 0
    assert repeated != produced  # the reason the daily table exists


# --------------------------------------------------------------------------- the metrics API
@pytest.fixture
def api_login(built) -> Iterator[dict[str, str]]:
    """The API's login on this engine: on PostgreSQL a login role with SELECT on the marts and
    metrics only (what ``python -m ingestion roles`` and dbt's grants give the reader role)."""
    if built.engine != "postgres":
        yield {}
        return
    import uuid

    import psycopg

    from ingestion.backends.postgres import PostgresBackend

    name = f"api_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PostgresBackend.conninfo(built.env), autocommit=True) as admin:
        admin.execute(f"create role {name} login password 'not-a-secret'")
        for schema in ("marts", "metrics"):
            admin.execute(f"grant usage on schema {schema} to {name}")
            admin.execute(f"grant select on all tables in schema {schema} to {name}")
    try:
        yield {"WAREHOUSE_READER_ROLE": name, "WAREHOUSE_READER_PASSWORD": "not-a-secret"}
    finally:
        with psycopg.connect(PostgresBackend.conninfo(built.env), autocommit=True) as admin:
            admin.execute(f"drop owned by {name}")
            admin.execute(f"drop role if exists {name}")


def test_the_metrics_api_answers_from_each_engines_marts_through_the_registry(
    built, api_login, tmp_path
):
    """``POST /query`` compiled by MetricFlow for this engine and run through the engine
    registry's read-only reader (PostgreSQL: as the reader login) equals the facts summed by
    hand, and the reader cannot read bronze."""
    import os

    from fastapi.testclient import TestClient

    from metrics_api.app import create_app
    from metrics_api.engine import Reader
    from metrics_api.settings import ApiSettings

    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "API_TODAY")},
        **built.env,
        **api_login,
        "SEMANTIC_MANIFEST": str(built.work / "target" / "semantic_manifest.json"),
        "MARTS_BUILD_FILE": str(tmp_path / "marts_build.json"),
        "API_STATE_DIR": str(tmp_path / "api_state"),
    }
    settings = ApiSettings.from_env(env)
    with TestClient(create_app(settings)) as http:
        response = http.post(
            "/query",
            json={"metrics": ["net_revenue", "orders"], "group_by": ["order__channel"]},
        )
    assert response.status_code == 200, response.text
    got = {r["order__channel"]: r["net_revenue"] for r in response.json()["rows"]}
    expected = {
        channel: float(total)
        for channel, total in built.query(
            "select channel, sum(net_revenue) from marts.fct_order_lines group by channel"
        )
    }
    assert set(got) == set(expected) and len(got) >= 3
    for channel, total in expected.items():
        assert abs(got[channel] - total) < 0.005, (channel, got[channel], total)
    if built.engine == "postgres":  # the reader login reads marts, never bronze
        reader = Reader(settings)
        with pytest.raises(Exception, match="permission denied"):
            reader.run("select count(*) from bronze.orders")
        assert reader.run("select current_user as who").column("who").to_pylist() == [
            api_login["WAREHOUSE_READER_ROLE"]
        ]
