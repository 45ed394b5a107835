"""What the monitors measure: a small registry of daily metrics, each an aggregate of one fact
by its event day, and the dimensions a metric can be cut by.

A metric is one of three kinds:

- ``count``: rows a day (a Poisson count: noise grows with the square root);
- ``sum``: a column summed over the day's rows (revenue, kilograms);
- ``rate``: a numerator over a denominator summed over the day's rows (on-time deliveries over
  deliveries, defects over units sampled: a binomial rate).

What is summed or counted is not written here: each metric names a metric of the dbt semantic
layer (``dbt_project/models/semantic/_metrics.yml``; :mod:`.semantic`), whose measures give the
expression and its aggregation (a ratio: its numerator's and its denominator's). What the
monitors add is their own: the fact's event day (deliveries by delivery day, where the semantic
layer's agg_time_dimension is the ship day), the dimension joins and the kind the scoring uses.
The measures' expressions are over the fact's unqualified columns: they are computed inside a
subquery over the fact alone (``(select *, <expr> as measure_numerator from <fact>) as fact``),
so a column of the same name in a joined dimension can never capture them, and the outer query
aggregates ``fact.measure_numerator`` with the measure's aggregation.

Every number comes from the marts dbt builds, but the ``rows_<table>`` volumes, which have no
semantic equivalent: bronze rows whose key first appears in that day's landing file (the day in
the file's name). A versioned table's new versions of known keys (an order shipped, a customer's
new segment) and the rows of a file that repeats an earlier day's keys (a re-delivery) are not
new: a day whose new orders were cut, or whose file is a copy of the day before, shows as a
drop. The SQL here is fixed text (the semantic layer's expressions come from the repository's
own YAML, never from a request): the only values bound into it are the two dates of the window,
as parameters; segment values come back as data and never become SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from ingestion.contracts import CONTRACTS

from . import semantic
from .semantic import Measure, SemanticError

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
    table: str  # the mart (``marts.fct_orders``), read as ``fact``
    joins: str  # the dimension joins after it ("" for none)
    day: str  # the event day column
    dimensions: dict[str, str]
    requires: tuple[str, ...]  # the relations the table and its joins read


@dataclass(frozen=True)
class Metric:
    name: str
    fact: str
    kind: str  # count | sum | rate
    semantic: str | None = None  # the semantic layer's metric (None: the bronze ``rows_<table>``)
    unit: str = ""
    description: str = ""


_CARRIER_FACILITY = (
    "left join marts.dim_carrier as carrier on fact.carrier_id = carrier.carrier_id "
    "left join marts.dim_facility as facility on fact.facility_id = facility.facility_id"
)
_SHIPMENT_DIMENSIONS = {
    "carrier": "carrier.carrier_name",
    "facility": "facility.facility_name",
    "destination_state": "fact.destination_state",
}
_PRODUCT = "left join marts.dim_product as product on fact.product_version_key = product.product_version_key"
_FACILITY = "left join marts.dim_facility as facility on fact.facility_id = facility.facility_id"

FACTS: dict[str, Fact] = {
    f.name: f
    for f in (
        Fact(
            "orders",
            "marts.fct_orders",
            "",
            "fact.ordered_date",
            {"channel": "fact.channel"},
            ("marts.fct_orders",),
        ),
        Fact(
            "order_lines",
            "marts.fct_order_lines",
            _PRODUCT,
            "fact.ordered_date",
            {"channel": "fact.channel", "category": "product.category"},
            ("marts.fct_order_lines", "marts.dim_product"),
        ),
        Fact(
            "deliveries",
            "marts.fct_shipments",
            _CARRIER_FACILITY,
            "fact.delivered_date",
            _SHIPMENT_DIMENSIONS,
            ("marts.fct_shipments", "marts.dim_carrier", "marts.dim_facility"),
        ),
        Fact(
            "shipments",
            "marts.fct_shipments",
            _CARRIER_FACILITY,
            "fact.shipped_date",
            _SHIPMENT_DIMENSIONS,
            ("marts.fct_shipments", "marts.dim_carrier", "marts.dim_facility"),
        ),
        Fact(
            "returns",
            "marts.fct_returns",
            _PRODUCT,
            "fact.requested_date",
            {"category": "product.category"},
            ("marts.fct_returns", "marts.dim_product"),
        ),
        Fact(
            "inspections",
            "marts.fct_quality_inspections",
            _FACILITY,
            "fact.inspected_date",
            {"facility": "facility.facility_name"},
            ("marts.fct_quality_inspections", "marts.dim_facility"),
        ),
        Fact(
            "waste",
            "marts.fct_waste_events",
            _FACILITY,
            "fact.recorded_date",
            {"facility": "facility.facility_name"},
            ("marts.fct_waste_events", "marts.dim_facility"),
        ),
    )
}

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("orders", "orders", "count", "orders", "orders", "orders placed"),
        Metric(
            "revenue",
            "order_lines",
            "sum",
            "net_revenue",
            "net revenue",
            "net revenue of the lines ordered",
        ),
        Metric("units", "order_lines", "sum", "units", "units", "units"),
        Metric("shipments", "shipments", "count", "shipments", "parcels", "parcels shipped"),
        # by delivery day, every row delivered: delivered_shipments counts them all
        Metric(
            "deliveries", "deliveries", "count", "delivered_shipments", "deliveries", "deliveries"
        ),
        Metric(
            "on_time_rate",
            "deliveries",
            "rate",
            "on_time_rate",
            "on time",
            "deliveries on time over deliveries",
        ),
        Metric("returns", "returns", "count", "returns", "returns", "returns requested"),
        Metric("refunds", "returns", "sum", "refunds", "refunded", "amount refunded"),
        Metric("inspections", "inspections", "count", "inspections", "lots", "lots inspected"),
        Metric(
            "defect_rate",
            "inspections",
            "rate",
            "defect_rate",
            "defects per unit sampled",
            "defects found over units sampled",
        ),
        Metric("waste_events", "waste", "count", "waste_events", "events", "waste events"),
        Metric("waste_kg", "waste", "sum", "waste_kg", "kg", "waste in kg"),
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


#: the columns of the fact subquery that hold a metric's measure expressions
NUMERATOR, DENOMINATOR = "measure_numerator", "measure_denominator"


def measures(metric: Metric) -> tuple[Measure, Measure | None]:
    """The semantic layer's (numerator, denominator) measures of a monitored metric, checked
    against what the monitor needs: a rate names a ratio metric, a count or a sum a simple one
    (a sum's measure summed); every measure is over the monitor's own fact table.
    :class:`~.semantic.SemanticError` names the metric, the file and what is wrong."""
    if metric.semantic is None:
        raise SemanticError(f"monitor metric {metric.name!r} names no semantic-layer metric")
    num, den = semantic.layer().measures_of(metric.semantic)
    where = f"monitor metric {metric.name!r} (semantic metric {metric.semantic!r})"
    if (den is None) == (metric.kind == "rate"):
        raise SemanticError(
            f"{where}: a {metric.kind} needs a {'ratio' if metric.kind == 'rate' else 'simple'} "
            "metric"
        )
    if metric.kind == "sum" and num.agg != "sum":
        raise SemanticError(f"{where}: a sum needs a measure with agg sum, not {num.agg!r}")
    table = FACTS[metric.fact].table.split(".")[-1]
    for m in (num, den):
        if m is not None and m.model != table:
            raise SemanticError(
                f"{where}: measure {m.name!r} is over {m.model}, the monitor reads {table}"
            )
    return num, den


def _source(fact: Fact, num: Measure, den: Measure | None) -> str:
    """The fact as ``fact``, with the measures' expressions computed on its own columns."""
    exprs = f"{num.expr} as {NUMERATOR}"
    if den is not None:
        exprs += f", {den.expr} as {DENOMINATOR}"
    return f"(select *, {exprs} from {fact.table}) as fact {fact.joins}".rstrip()


def _aggregates(m: Metric, num: Measure, den: Measure | None) -> str:
    value = num.aggregate(f"fact.{NUMERATOR}")
    if m.kind == "count":
        return f"count(*) as n, {value} as num, count(*) as den, count(*) as sq"
    if m.kind == "sum":
        x = f"cast(fact.{NUMERATOR} as double precision)"
        return f"count(*) as n, {num.aggregate(x)} as num, count(*) as den, sum({x} * {x}) as sq"
    assert den is not None  # measures() checked it
    return f"count(*) as n, {value} as num, {den.aggregate(f'fact.{DENOMINATOR}')} as den, count(*) as sq"


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
    num, den = measures(metric)
    if not all(_exists(wh, r) for r in fact.requires):
        return None
    segment = fact.dimensions[dimension] if dimension else "null"
    return (
        f"select {fact.day} as day, cast({segment} as varchar) as segment, "
        f"{_aggregates(metric, num, den)} from {_source(fact, num, den)} "
        f"where {fact.day} between {mark} and {mark} group by 1, 2"
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
