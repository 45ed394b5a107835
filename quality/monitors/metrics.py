"""What the monitors measure: a small registry of daily metrics, each an aggregate of one fact
by its event day, and the dimensions a metric can be cut by.

A metric is one of three kinds:

- ``count``: rows a day (a Poisson count: noise grows with the square root);
- ``sum``: a column summed over the day's rows (revenue, kilograms);
- ``rate``: a numerator over a denominator summed over the day's rows (on-time deliveries over
  deliveries, defects over units sampled: a binomial rate).

Every number comes from the marts dbt builds, but the ``rows_<table>`` volumes: bronze rows whose
key first appears in that day's landing file (the day in the file's name). A versioned table's
new versions of known keys (an order shipped, a customer's new segment) and the rows of a file
that repeats an earlier day's keys (a re-delivery) are not new: a day whose new orders were cut,
or whose file is a copy of the day before, shows as a drop. The SQL here is fixed text: the only values bound into it are the two
dates of the window, as parameters; segment values come back as data and never become SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from ingestion.contracts import CONTRACTS

KINDS = ("count", "sum", "rate")
#: bronze tables whose new rows a day are watched (``rows_<table>``), by the day of their file
ROW_TABLES = (
    "orders",
    "order_lines",
    "customers",
    "shipments",
    "returns",
    "quality_inspections",
    "waste_events",
    "delivery_feedback",
)


def day_of_file(column: str = "_source_file") -> str:
    """The day in a landing file's name, as SQL on the bronze column. Names are
    ``<table>/<YYYY-MM-DD>.csv`` (ingestion/landing.py refuses any other), so the day is the ten
    characters before ``.csv``: ``left``/``right`` read the same on every engine (a regular
    expression's back-reference does not)."""
    return f"cast(left(right({column}, 14), 10) as date)"


DAY_OF_FILE = day_of_file()


@dataclass(frozen=True)
class Fact:
    """A mart read by its event day; ``dimensions`` maps a dimension name to its SQL column."""

    name: str
    source: str  # ``from`` clause (the fact with its dimension joins)
    day: str  # the event day column
    dimensions: dict[str, str]
    requires: tuple[str, ...]  # the relations ``source`` reads


@dataclass(frozen=True)
class Metric:
    name: str
    fact: str
    kind: str  # count | sum | rate
    numerator: str | None = None  # summed SQL expression (sum and rate)
    denominator: str | None = None  # summed SQL expression (rate)
    unit: str = ""
    description: str = ""


FACTS: dict[str, Fact] = {
    f.name: f
    for f in (
        Fact(
            "orders",
            "marts.fct_orders as fact",
            "fact.ordered_date",
            {"channel": "fact.channel"},
            ("marts.fct_orders",),
        ),
        Fact(
            "order_lines",
            "marts.fct_order_lines as fact left join marts.dim_product as product "
            "on fact.product_version_key = product.product_version_key",
            "fact.ordered_date",
            {"channel": "fact.channel", "category": "product.category"},
            ("marts.fct_order_lines", "marts.dim_product"),
        ),
        Fact(
            "deliveries",
            "marts.fct_shipments as fact "
            "left join marts.dim_carrier as carrier on fact.carrier_id = carrier.carrier_id "
            "left join marts.dim_facility as facility on fact.facility_id = facility.facility_id",
            "fact.delivered_date",
            {
                "carrier": "carrier.carrier_name",
                "facility": "facility.facility_name",
                "destination_state": "fact.destination_state",
            },
            ("marts.fct_shipments", "marts.dim_carrier", "marts.dim_facility"),
        ),
        Fact(
            "shipments",
            "marts.fct_shipments as fact "
            "left join marts.dim_carrier as carrier on fact.carrier_id = carrier.carrier_id "
            "left join marts.dim_facility as facility on fact.facility_id = facility.facility_id",
            "fact.shipped_date",
            {
                "carrier": "carrier.carrier_name",
                "facility": "facility.facility_name",
                "destination_state": "fact.destination_state",
            },
            ("marts.fct_shipments", "marts.dim_carrier", "marts.dim_facility"),
        ),
        Fact(
            "returns",
            "marts.fct_returns as fact left join marts.dim_product as product "
            "on fact.product_version_key = product.product_version_key",
            "fact.requested_date",
            {"category": "product.category"},
            ("marts.fct_returns", "marts.dim_product"),
        ),
        Fact(
            "inspections",
            "marts.fct_quality_inspections as fact left join marts.dim_facility as facility "
            "on fact.facility_id = facility.facility_id",
            "fact.inspected_date",
            {"facility": "facility.facility_name"},
            ("marts.fct_quality_inspections", "marts.dim_facility"),
        ),
        Fact(
            "waste",
            "marts.fct_waste_events as fact left join marts.dim_facility as facility "
            "on fact.facility_id = facility.facility_id",
            "fact.recorded_date",
            {"facility": "facility.facility_name"},
            ("marts.fct_waste_events", "marts.dim_facility"),
        ),
    )
}

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("orders", "orders", "count", unit="orders", description="orders placed"),
        Metric(
            "revenue",
            "order_lines",
            "sum",
            "fact.net_revenue",
            unit="net revenue",
            description="net revenue of the lines ordered",
        ),
        Metric("units", "order_lines", "sum", "fact.quantity", unit="units", description="units"),
        Metric("shipments", "shipments", "count", unit="parcels", description="parcels shipped"),
        Metric("deliveries", "deliveries", "count", unit="deliveries", description="deliveries"),
        Metric(
            "on_time_rate",
            "deliveries",
            "rate",
            "case when fact.is_on_time then 1 else 0 end",
            "1",
            unit="on time",
            description="deliveries on time over deliveries",
        ),
        Metric("returns", "returns", "count", unit="returns", description="returns requested"),
        Metric(
            "refunds",
            "returns",
            "sum",
            "fact.refund_amount",
            unit="refunded",
            description="amount refunded",
        ),
        Metric("inspections", "inspections", "count", unit="lots", description="lots inspected"),
        Metric(
            "defect_rate",
            "inspections",
            "rate",
            "fact.defects_found",
            "fact.sample_size",
            unit="defects per unit sampled",
            description="defects found over units sampled",
        ),
        Metric("waste_events", "waste", "count", unit="events", description="waste events"),
        Metric(
            "waste_kg", "waste", "sum", "fact.quantity_kg", unit="kg", description="waste in kg"
        ),
        *(
            Metric(
                f"rows_{t}",
                f"bronze:{t}",
                "count",
                unit="rows",
                description=f"{t} rows whose key is new that day",
            )
            for t in ROW_TABLES
        ),
    )
}
DIMENSIONS: tuple[str, ...] = tuple(
    sorted({d for f in FACTS.values() for d in f.dimensions}, key=str)
)


def dimensions_of(metric: str) -> tuple[str, ...]:
    m = METRICS[metric]
    fact = FACTS.get(m.fact)
    return tuple(fact.dimensions) if fact else ()


@dataclass
class Series:
    """Daily aggregates of one metric and one segment (``segment`` None: the whole company).

    ``value`` per day is the metric; ``volume`` the rows it rests on; ``numerator`` and
    ``denominator`` the sums a rate is made of (count and sum: the value and the volume);
    ``squares`` the sum of the squared row values (the sampling noise of a sum is its root)."""

    metric: str
    dimension: str | None
    segment: str | None
    value: dict[date, float]
    volume: dict[date, float]
    numerator: dict[date, float]
    denominator: dict[date, float]
    first_day: date | None = None  # the first day with data, when it is inside the range read
    squares: dict[date, float] | None = None  # sums: the day's sum of squared row values


def _aggregates(m: Metric) -> str:
    if m.kind == "count":
        return "count(*) as n, count(*) as num, count(*) as den, count(*) as sq"
    if m.kind == "sum":
        x = f"cast({m.numerator} as double precision)"
        return f"count(*) as n, sum({x}) as num, count(*) as den, sum({x} * {x}) as sq"
    return f"count(*) as n, sum({m.numerator}) as num, sum({m.denominator}) as den, count(*) as sq"


def _mark(wh) -> str:
    return wh.mark


def _exists(wh, relation: str) -> bool:
    schema, table = relation.split(".")
    return wh.table_exists(schema, table)


def fact_sql(wh, metric: Metric, dimension: str | None) -> str | None:
    """The query of one metric's daily aggregates (per segment of ``dimension``), or None when
    its tables are not built yet."""
    mark = _mark(wh)
    if metric.fact.startswith("bronze:"):
        table = metric.fact.split(":", 1)[1]
        schema = wh.settings.schema
        if dimension is not None or not wh.table_exists(schema, table):
            return None
        keys = ", ".join(CONTRACTS[table].primary_key)
        return (
            "select first_day as day, cast(null as varchar) as segment, count(*) as n, "
            "count(*) as num, count(*) as den, count(*) as sq from ("
            f"select {keys}, min({DAY_OF_FILE}) as first_day from {schema}.{table} "
            f"group by {keys}) as firsts where first_day between {mark} and {mark} group by 1, 2"
        )
    fact = FACTS[metric.fact]
    if not all(_exists(wh, r) for r in fact.requires):
        return None
    segment = fact.dimensions[dimension] if dimension else "null"
    return (
        f"select {fact.day} as day, cast({segment} as varchar) as segment, {_aggregates(metric)} "
        f"from {fact.source} where {fact.day} between {mark} and {mark} group by 1, 2"
    )


def load_series(
    wh, wanted: dict[str, set[str | None]], start: date, end: date
) -> dict[tuple[str, str | None], list[Series]]:
    """Daily aggregates from ``start`` to ``end`` of each metric of ``wanted`` (metric ->
    dimensions, ``None`` for the company total), keyed by (metric, dimension)."""
    out: dict[tuple[str, str | None], list[Series]] = {}
    for name, dims in wanted.items():
        metric = METRICS[name]
        for dim in sorted(dims, key=lambda d: d or ""):
            sql = fact_sql(wh, metric, dim)
            if sql is None:
                continue
            df = wh.frame(sql, [start, end])
            out[(name, dim)] = _split(df, name, dim, metric.kind, start)
    return out


def _split(df: pd.DataFrame, metric: str, dim: str | None, kind: str, start: date) -> list[Series]:
    if df.empty:
        return []
    df = df.assign(day=pd.to_datetime(df["day"]).dt.date)
    for c in ("n", "num", "den", "sq"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    out = []
    keys = [None] if dim is None else sorted(df["segment"].dropna().unique().tolist())
    for key in keys:
        part = df if dim is None else df[df["segment"] == key]
        days = part["day"].tolist()
        num = dict(zip(days, part["num"].fillna(0.0), strict=True))
        den = dict(zip(days, part["den"].fillna(0.0), strict=True))
        sq = dict(zip(days, part["sq"].fillna(0.0), strict=True))
        value = {d: num[d] / den[d] for d in days if den[d] > 0} if kind == "rate" else dict(num)
        volume = dict(zip(days, part["n"], strict=True))
        first = min((d for d, n in volume.items() if n > 0), default=None)
        out.append(
            Series(
                metric,
                dim,
                key,
                value,
                volume,
                num,
                den,
                first if first is not None and first > start else None,
                sq,
            )
        )
    return out
