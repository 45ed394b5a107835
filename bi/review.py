"""The weekly business review's figures: the days of an ISO week and of the week before, read
from the marts and metrics tables of the warehouse ``WAREHOUSE_TARGET`` names, and the KPIs.

Definitions follow ``dbt_project/models/metrics/*.sql`` and ``dbt_project/models/semantic/
_metrics.yml``. Every rate is its numerator summed over the days divided by its denominator
summed over the same days (never an average of daily rates). Table and column names come only
from the constants below; the days are bound parameters.

    review = read_review(Week.parse("2026-W02"))
    review.value("net_revenue"), review.previous_value("net_revenue")
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

_WEEK = re.compile(r"(\d{4})-W(\d{2})")
CENT = Decimal("0.01")
GRAM = Decimal("0.001")

Number = int | Decimal


class NoData(LookupError):
    """The warehouse holds nothing for the week asked for."""


class WarehouseReadError(RuntimeError):
    """A query on the warehouse failed (the message names the table and the engine's words)."""


# --------------------------------------------------------------------------- weeks
@dataclass(frozen=True, order=True)
class Week:
    """An ISO 8601 week: Monday to Sunday, numbered within its ISO year."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        """``YYYY-Www`` (e.g. ``2026-W02``); anything else raises ``ValueError`` saying so."""
        match = _WEEK.fullmatch(str(text).strip())
        if match is None:
            raise ValueError(f"week {text!r} is not an ISO week: write YYYY-Www, e.g. 2026-W02")
        year, number = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            last = date(year, 12, 28).isocalendar().week
            raise ValueError(
                f"week {text!r} does not exist: ISO year {year} has weeks W01 to W{last:02d}"
            ) from None
        return cls(year, number)

    @classmethod
    def of(cls, day: date) -> Week:
        """The ISO week ``day`` falls in."""
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @property
    def start(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(7)]

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def previous(self) -> Week:
        return Week.of(self.start - timedelta(days=7))

    def __str__(self) -> str:
        return self.label


# --------------------------------------------------------------------------- what is read
@dataclass(frozen=True)
class Measure:
    name: str
    sql: str  # an aggregate over the part's table (code constant)
    kind: str  # count, money or kg


@dataclass(frozen=True)
class Part:
    """One daily aggregate query: measures of ``table`` grouped by its ``day_column``."""

    name: str
    table: str
    day_column: str
    measures: tuple[Measure, ...]


def _count(name: str, sql: str | None = None) -> Measure:
    return Measure(name, sql or f"sum({name})", "count")


PARTS: tuple[Part, ...] = (
    # additive at day x category x channel grain: summing them over a day is exact
    Part(
        "sales",
        "metrics.metrics_sales_performance",
        "ordered_date",
        (
            _count("order_lines", "sum(lines)"),
            _count("units"),
            Measure("gross_revenue", "sum(gross_revenue)", "money"),
            Measure("discount", "sum(discount)", "money"),
            Measure("net_revenue", "sum(net_revenue)", "money"),
        ),
    ),
    # metrics_sales_performance.orders is count(distinct order_id) per day x category x channel:
    # an order with lines in two categories counts twice when summed, so orders come from the
    # fact, as the semantic layer's `orders` metric counts them (orders without lines included)
    Part(
        "orders",
        "marts.fct_orders",
        "ordered_date",
        (
            _count("orders", "count(*)"),
            _count(
                "cancelled_orders",
                "sum(case when order_status = 'cancelled' then 1 else 0 end)",
            ),
        ),
    ),
    # metrics_product_performance holds returns by product and month only: the daily parts of
    # the return rate come from the fact (every return, as the semantic `returned_units`)
    Part(
        "returns",
        "marts.fct_returns",
        "requested_date",
        (
            _count("returns", "count(*)"),
            _count("returned_units", "sum(quantity)"),
            Measure("refunds", "sum(refund_amount)", "money"),
        ),
    ),
    Part(
        "delivery",
        "metrics.metrics_delivery_performance",
        "shipped_date",
        (
            _count("shipments"),
            _count("delivered"),
            _count("on_time"),
            _count("bad_weather_shipments"),
        ),
    ),
    Part(
        "quality",
        "metrics.metrics_quality",
        "inspected_date",
        (
            _count("inspections"),
            _count("passed"),
            _count("failed"),
            _count("units_inspected"),
            _count("defects"),
        ),
    ),
    # metrics_sustainability repeats a facility-day's production on each disposal-method row and
    # has no row on a day without waste: units produced come from the inspected lots (the
    # semantic `units_produced`)
    Part(
        "production",
        "marts.fct_quality_inspections",
        "inspected_date",
        (_count("units_produced", "sum(lot_size)"),),
    ),
    Part(
        "waste",
        "metrics.metrics_sustainability",
        "recorded_date",
        (
            _count("waste_events"),
            Measure("waste_kg", "sum(waste_kg)", "kg"),
            Measure(
                "recycled_or_reused_kg",
                "sum(case when disposal_method in ('recycled', 'reused') then waste_kg else 0 end)",
                "kg",
            ),
            Measure("waste_cost", "sum(waste_cost)", "money"),
        ),
    ),
)
#: Where the days the warehouse covers are read from (the first and the last day with an order).
COVERAGE = ("marts.fct_orders", "ordered_date")
KINDS = {m.name: m.kind for p in PARTS for m in p.measures}


# --------------------------------------------------------------------------- what is shown
@dataclass(frozen=True)
class Column:
    """A column of a subject's daily sheet: a measure, or a ratio of two (``kind`` rate/kg)."""

    key: str
    header: str
    kind: str  # count, money, kg, rate, kg_per_unit
    ratio: tuple[str, str] | None = None


@dataclass(frozen=True)
class Subject:
    name: str
    sheet: str
    columns: tuple[Column, ...]


SUBJECTS: tuple[Subject, ...] = (
    Subject(
        "sales",
        "Sales",
        (
            Column("orders", "Orders", "count"),
            Column("cancelled_orders", "Cancelled orders", "count"),
            Column("order_lines", "Order lines", "count"),
            Column("units", "Units", "count"),
            Column("gross_revenue", "Gross revenue", "money"),
            Column("discount", "Discount", "money"),
            Column("net_revenue", "Net revenue", "money"),
            Column("returns", "Returns", "count"),
            Column("returned_units", "Returned units", "count"),
            Column("refunds", "Refunds", "money"),
            Column("return_rate", "Return rate", "rate", ("returned_units", "units")),
        ),
    ),
    Subject(
        "delivery",
        "Delivery",
        (
            Column("shipments", "Shipments", "count"),
            Column("delivered", "Delivered", "count"),
            Column("on_time", "On time", "count"),
            Column("on_time_rate", "On-time rate", "rate", ("on_time", "delivered")),
            Column("bad_weather_shipments", "Bad-weather shipments", "count"),
            Column(
                "bad_weather_share",
                "Bad-weather share",
                "rate",
                ("bad_weather_shipments", "shipments"),
            ),
        ),
    ),
    Subject(
        "quality",
        "Quality",
        (
            Column("inspections", "Inspections", "count"),
            Column("passed", "Passed", "count"),
            Column("failed", "Failed", "count"),
            Column("first_pass_yield", "First-pass yield", "rate", ("passed", "inspections")),
            Column("units_inspected", "Units inspected", "count"),
            Column("defects", "Defects", "count"),
            Column("defect_rate", "Defect rate", "rate", ("defects", "units_inspected")),
        ),
    ),
    Subject(
        "sustainability",
        "Sustainability",
        (
            Column("waste_events", "Waste events", "count"),
            Column("waste_kg", "Waste (kg)", "kg"),
            Column("recycled_or_reused_kg", "Recycled or reused (kg)", "kg"),
            Column(
                "recycled_share",
                "Recycled or reused share",
                "rate",
                ("recycled_or_reused_kg", "waste_kg"),
            ),
            Column("waste_cost", "Waste cost", "money"),
            Column("units_produced", "Units produced", "count"),
            Column(
                "waste_kg_per_unit",
                "Waste per unit produced (kg)",
                "kg_per_unit",
                ("waste_kg", "units_produced"),
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    kind: str  # money, count, kg, rate
    numerator: str
    denominator: str | None
    subject: str
    definition: str


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "net_revenue",
        "Net revenue",
        "money",
        "net_revenue",
        None,
        "sales",
        "quantity × unit price − line discount, by order day (USD; metrics_sales_performance)",
    ),
    Kpi(
        "orders",
        "Orders",
        "count",
        "orders",
        None,
        "sales",
        "orders placed, cancelled included (fct_orders: the metrics table's orders double count "
        "across categories)",
    ),
    Kpi(
        "units",
        "Units",
        "count",
        "units",
        None,
        "sales",
        "units ordered (metrics_sales_performance)",
    ),
    Kpi(
        "on_time_rate",
        "On-time delivery rate",
        "rate",
        "on_time",
        "delivered",
        "delivery",
        "on-time shipments / delivered shipments, by ship day; parcels in transit left out "
        "(metrics_delivery_performance)",
    ),
    Kpi(
        "defect_rate",
        "Defect rate",
        "rate",
        "defects",
        "units_inspected",
        "quality",
        "defects found / units inspected, by inspection day (metrics_quality)",
    ),
    Kpi(
        "waste_kg",
        "Waste (kg)",
        "kg",
        "waste_kg",
        None,
        "sustainability",
        "waste recorded, kg, by day recorded (metrics_sustainability)",
    ),
    Kpi(
        "return_rate",
        "Return rate",
        "rate",
        "returned_units",
        "units",
        "sales",
        "units returned (by request day, fct_returns) / units ordered (by order day)",
    ),
)


# --------------------------------------------------------------------------- the figures
@dataclass
class WeekFigures:
    """One week's measures per day (the days the warehouse covers) and summed over them."""

    week: Week
    days: list[date]
    daily: dict[date, dict[str, Number]]
    totals: dict[str, Number]

    @property
    def complete(self) -> bool:
        return len(self.days) == 7

    def value(self, kpi: Kpi) -> Number | None:
        return ratio_or_total(self.totals, kpi.numerator, kpi.denominator)

    def coverage_note(self) -> str | None:
        """None for a complete week, else which of its days the warehouse holds."""
        if self.complete:
            return None
        if not self.days:
            return f"{self.week} has no day in the warehouse"
        return (
            f"{self.week} is partial: the warehouse holds {len(self.days)} of its 7 days "
            f"({self.days[0]} to {self.days[-1]})"
        )


@dataclass
class Review:
    week: WeekFigures
    previous: WeekFigures
    coverage: tuple[date, date]
    target: str
    notes: list[str] = field(default_factory=list)

    def value(self, key: str) -> Number | None:
        return self.week.value(kpi(key))

    def previous_value(self, key: str) -> Number | None:
        return self.previous.value(kpi(key))


def kpi(key: str) -> Kpi:
    for item in KPIS:
        if item.key == key:
            return item
    raise KeyError(f"no KPI {key!r}: the KPIs are {', '.join(k.key for k in KPIS)}")


def ratio_or_total(values: Mapping[str, Number], numerator: str, denominator: str | None):
    """``values[numerator]``, or its ratio to ``values[denominator]`` (None when that is 0)."""
    top = values.get(numerator, 0)
    if denominator is None:
        return top
    bottom = values.get(denominator, 0)
    if not bottom:
        return None
    return Decimal(top) / Decimal(bottom)


def change(current: Number | None, previous: Number | None) -> tuple[Any, Any]:
    """(current − previous, relative change); None where it cannot be computed."""
    if current is None or previous is None:
        return None, None
    diff = current - previous
    relative = Decimal(diff) / Decimal(previous) if previous else None
    return diff, relative


# --------------------------------------------------------------------------- reading
def _part_sql(part: Part, mark: str) -> str:
    measures = ",\n    ".join(f"{m.sql} as {m.name}" for m in part.measures)
    return (
        f"select\n    {part.day_column} as report_day,\n    {measures}\n"
        f"from {part.table}\n"
        f"where {part.day_column} >= {mark} and {part.day_column} <= {mark}\n"
        f"group by {part.day_column}"
    )


def _plain(value: Any, kind: str) -> Number:
    """A measure as an exact Python number (DuckDB hands pandas floats, psycopg Decimals)."""
    if value is None or value != value:  # NULL, NaN
        return 0 if kind == "count" else Decimal(0)
    if kind == "count":
        return round(float(value))
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return exact.quantize(CENT if kind == "money" else GRAM)


def _day(value: Any) -> date:
    if hasattr(value, "date") and callable(value.date):
        return value.date()
    return value


def _query(wh, sql: str, params: list, table: str):
    try:
        return wh.frame(sql, params)
    except Exception as exc:  # the engine's own error class differs per engine
        words = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WarehouseReadError(
            f"could not read {table} on the {wh.target} warehouse ({words}): build the marts "
            "first (make run, or dbt build)"
        ) from exc


def read_daily(wh, first: date, last: date) -> dict[date, dict[str, Number]]:
    """Every measure of :data:`PARTS` per day from ``first`` to ``last`` (days with rows)."""
    mark = wh.mark
    daily: dict[date, dict[str, Number]] = {}
    for part in PARTS:
        frame = _query(wh, _part_sql(part, mark), [first, last], part.table)
        for row in frame.to_dict("records"):
            values = daily.setdefault(_day(row["report_day"]), {})
            for measure in part.measures:
                values[measure.name] = _plain(row[measure.name], measure.kind)
    return daily


def read_coverage(wh) -> tuple[date, date] | None:
    """The first and the last day with an order, or None on an empty warehouse."""
    table, column = COVERAGE
    frame = _query(
        wh, f"select min({column}) as first_day, max({column}) as last_day from {table}", [], table
    )
    first, last = frame.iloc[0]["first_day"], frame.iloc[0]["last_day"]
    if first is None or last is None or first != first:
        return None
    return _day(first), _day(last)


def _zero(kind: str) -> Number:
    return 0 if kind == "count" else Decimal(0)


def week_figures(week: Week, coverage: tuple[date, date], daily) -> WeekFigures:
    days = [d for d in week.days if coverage[0] <= d <= coverage[1]]
    rows = {
        d: {name: daily.get(d, {}).get(name, _zero(kind)) for name, kind in KINDS.items()}
        for d in days
    }
    totals = {
        name: sum((r[name] for r in rows.values()), _zero(kind)) for name, kind in KINDS.items()
    }
    return WeekFigures(week, days, rows, totals)


def open_warehouse(environ: Mapping[str, str] | None = None):
    """``ingestion.warehouse.connect()``, but a DuckDB file that is not there is an error (a
    report never creates an empty warehouse)."""
    from ingestion.config import Settings
    from ingestion.warehouse import connect

    settings = Settings.from_env(dict(environ) if environ is not None else None)
    if settings.target == "duckdb" and not settings.duckdb_path.is_file():
        raise WarehouseReadError(
            f"no DuckDB warehouse at {settings.duckdb_path}: run make run (or set DUCKDB_PATH)"
        )
    return connect(environ)


def read_review(week: Week, environ: Mapping[str, str] | None = None) -> Review:
    """The week's and the week before's figures from the warehouse ``environ`` names.

    Raises :class:`NoData` when the warehouse holds no day of ``week`` and
    :class:`WarehouseReadError` (one line) when a table cannot be read.
    """
    previous = week.previous()
    with open_warehouse(environ) as wh:
        coverage = read_coverage(wh)
        if coverage is None:
            raise NoData(f"no data for {week}: the warehouse has no orders (marts.fct_orders)")
        if not (coverage[0] <= week.end and week.start <= coverage[1]):
            raise NoData(
                f"no data for {week} ({week.start} to {week.end}): the warehouse holds "
                f"{coverage[0]} to {coverage[1]}"
            )
        daily = read_daily(wh, previous.start, week.end)
        target = wh.target
    review = Review(
        week_figures(week, coverage, daily),
        week_figures(previous, coverage, daily),
        coverage,
        target,
    )
    for figures in (review.week, review.previous):
        note = figures.coverage_note()
        if note:
            review.notes.append(note)
    if not review.previous.complete or not review.week.complete:
        review.notes.append(
            "Week-over-week changes compare the days each week holds: read them with the "
            "partial week in mind."
        )
    return review
