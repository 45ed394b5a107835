"""The subject areas of the Tableau data sources, and the few facts about measures that the dbt
manifest cannot tell: one place for both.

Everything else (tables, columns, descriptions, keys, relationships, which column is a ratio of
which two others) is read from the manifest. A model can name its area itself, in its YAML:
``config: {meta: {bi: {area: sales}}}`` (or a list of areas), or by belonging to a dbt group
named after an area; the mapping below covers the models that do not.
"""

from __future__ import annotations

#: Area -> the models of its data source, the main table first. Dims come with the facts that
#: point at them; ``dim_date`` joins by itself when tables relate by a day only (see CALENDAR).
AREAS: dict[str, tuple[str, ...]] = {
    "sales": (
        "metrics_sales_performance",
        "metrics_product_performance",
        "fct_order_lines",
        "fct_orders",
        "fct_returns",
        "dim_product",
        "dim_customer",
    ),
    "delivery": (
        "metrics_delivery_performance",
        "fct_shipments",
        "fct_delivery_feedback",
        "dim_carrier",
        "dim_facility",
    ),
    "quality": ("metrics_quality", "fct_quality_inspections", "dim_facility"),
    "sustainability": (
        "metrics_sustainability",
        "fct_waste_events",
        "dim_facility",
        "dim_material",
    ),
    "customers": ("metrics_customer_analytics", "metrics_customer_cohorts"),
}

#: The calendar: tables of one data source that share no key are related through it, each by
#: its own day (Tableau's relationships must join every table of a data source).
CALENDAR = ("dim_date", "date_day")

#: A table's day for the calendar, where it is neither a tested foreign key to dim_date nor the
#: first date of the table's grain.
CALENDAR_DAY: dict[str, str] = {"metrics_customer_analytics": "first_order_date"}

#: Dims: a column of another table named like a dim's single-column primary key relates to it.
DIMENSION_PREFIX = "dim_"

#: Pipeline columns nobody analyses: hidden.
TECHNICAL_COLUMNS = frozenset({"loaded_at"})

#: Measures that must not be summed, with the reason (shown as the field's description).
#: ``None``: not aggregated (an attribute at the table's grain); otherwise Tableau's aggregation.
#: A column's ``meta: {bi: {aggregation: ..., why: ...}}`` in dbt overrides this.
MEASURES: dict[tuple[str, str], tuple[str | None, str]] = {
    ("metrics_sales_performance", "orders"): (
        None,
        "Distinct orders of the day x category x channel: an order with lines in two categories "
        "counts in both, so a sum over categories counts it twice. Count orders on the Orders "
        "table (one row per order) instead.",
    ),
    ("metrics_sustainability", "units_produced"): (
        None,
        "Repeated on every disposal-method row of a facility-day: a sum over disposal methods "
        "counts the production once per method.",
    ),
    ("metrics_customer_cohorts", "cohort_size"): (
        None,
        "Repeated on every month of the cohort: add it up over cohorts for one month since the "
        "first order, never over months.",
    ),
    ("metrics_customer_analytics", "recency_days"): (
        "Avg",
        "One value per customer: averaged over customers, not summed.",
    ),
    ("fct_order_lines", "unit_price"): (
        None,
        "A price, not an amount: for an average price use gross revenue / quantity.",
    ),
    ("fct_order_lines", "unit_cost"): (
        None,
        "A cost per unit, not an amount: for the cost of a set of lines use cost of goods.",
    ),
    ("fct_shipments", "destination_precipitation_mm"): (
        None,
        "Weather of the destination on the ship date, repeated on every shipment there.",
    ),
    ("fct_delivery_feedback", "rating"): (
        "Avg",
        "A 1-5 rating per response: averaged over responses (exact at any level, since each row "
        "is one response).",
    ),
}

#: Numbers that are categories, not amounts: discrete dimensions.
DISCRETE = frozenset(
    {
        ("metrics_customer_analytics", "recency_score"),
        ("metrics_customer_analytics", "frequency_score"),
        ("metrics_customer_analytics", "monetary_score"),
    }
)

#: Ratios whose numerator / denominator are in the table but whose ratio of sums would still be
#: wrong; they are offered at the table's grain only (attribute), with the reason.
NO_EXACT_RATIO: dict[tuple[str, str], str] = {
    ("metrics_sustainability", "waste_kg_per_unit_produced"): (
        "units_produced repeats on every disposal-method row of a facility-day, so "
        "SUM(waste_kg) / SUM(units_produced) over disposal methods would divide by the "
        "production once per method."
    ),
}

#: Calculated fields over a fact that give exactly what a metrics table only has as a stored
#: average: (table, field) -> (caption, formula over the table's columns in {braces}, format,
#: description).
EXTRA_CALCULATIONS: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("fct_shipments", "avg_days_late"): (
        "Average days late (shipments)",
        "SUM({days_late}) / COUNT({days_late})",
        "number",
        "Days late per delivered shipment, from the shipments themselves: days_late is null "
        "while in transit, so COUNT counts the delivered ones. Exact at any level, unlike the "
        "stored avg_days_late of the delivery performance table.",
    ),
    ("fct_shipments", "on_time_rate"): (
        "On-time rate (shipments)",
        "SUM(INT({is_on_time})) / COUNT({is_on_time})",
        "percent",
        "Share of delivered shipments that arrived on time, from the shipments themselves "
        "(is_on_time is null while in transit).",
    ),
}
