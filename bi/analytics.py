"""Python analytics on the marts: three business questions answered in a few lines of pandas, on
whichever warehouse ``WAREHOUSE_TARGET`` names (DuckDB or PostgreSQL, through
``ingestion.warehouse.connect()``, the same door the quality and ML packages use).

    python -m bi.analytics                  # the latest complete ISO week in the warehouse
    python -m bi.analytics --week 2026-W02

1. Which carrier's on-time rate fell most, week over week?
2. Which product category has the highest return rate?
3. What share of net revenue does each sales channel bring?

The SQL only sums and counts (portable across engines); every rate is computed here from the
summed numerator and denominator. Table and column names are constants; the days are bound
parameters. Use the functions from a notebook as well:

    from bi.analytics import answers
    result = answers(week=Week.parse("2026-W02"))
    result.carriers.head()
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from .review import NoData, WarehouseReadError, Week, open_warehouse

CARRIER_SQL = """
select
    carriers.carrier_name,
    sum(case when shipments.is_delivered then 1 else 0 end) as delivered,
    sum(case when shipments.is_on_time then 1 else 0 end) as on_time
from marts.fct_shipments as shipments
inner join marts.dim_carrier as carriers
    on shipments.carrier_id = carriers.carrier_id
where shipments.shipped_date >= {p} and shipments.shipped_date <= {p}
group by carriers.carrier_name
"""

# units sold and units returned per category of the product version sold (dim_product is
# SCD2: the version key is the one valid when the line was ordered)
CATEGORY_UNITS_SQL = """
select
    products.category,
    sum(lines.quantity) as units
from marts.fct_order_lines as lines
inner join marts.dim_product as products
    on lines.product_version_key = products.product_version_key
where lines.ordered_date >= {p} and lines.ordered_date <= {p}
group by products.category
"""
CATEGORY_RETURNS_SQL = """
select
    products.category,
    sum(returns.quantity) as returned_units
from marts.fct_returns as returns
inner join marts.dim_product as products
    on returns.product_version_key = products.product_version_key
where returns.requested_date >= {p} and returns.requested_date <= {p}
group by products.category
"""

CHANNEL_SQL = """
select
    lines.channel,
    sum(lines.net_revenue) as net_revenue
from marts.fct_order_lines as lines
where lines.ordered_date >= {p} and lines.ordered_date <= {p}
group by lines.channel
"""

DATA_RANGE_SQL = (
    "select min(ordered_date) as first_day, max(ordered_date) as last_day from marts.fct_orders"
)


@dataclass
class Answers:
    week: Week
    data_range: tuple[date, date]
    carriers: pd.DataFrame  # carrier_name, rate before and now, change in points
    categories: pd.DataFrame  # category, units, returned_units, return_rate
    channels: pd.DataFrame  # channel, net_revenue, share


def _frame(wh, sql: str, params: list) -> pd.DataFrame:
    mark = wh.mark
    try:
        return wh.frame(sql.format(p=mark), params)
    except Exception as exc:  # each engine has its own error classes
        words = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WarehouseReadError(f"query on the {wh.target} warehouse failed ({words})") from exc


def _numeric(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:  # DuckDB hands floats, psycopg Decimals: the same floats for both
        frame[column] = pd.to_numeric(frame[column].astype(float))
    return frame


def latest_complete_week(last_day: date) -> Week:
    """The last ISO week whose Sunday the data reaches."""
    return Week.of(last_day + timedelta(days=1)).previous()


def carrier_on_time_change(wh, week: Week) -> pd.DataFrame:
    """Per carrier: on-time rate (on time / delivered, by ship day) in the week before and in
    ``week``, and the change in percentage points; the biggest fall first."""
    frames = []
    for name, w in (("before", week.previous()), ("now", week)):
        rows = _numeric(_frame(wh, CARRIER_SQL, [w.start, w.end]), "delivered", "on_time")
        rows[f"rate_{name}"] = rows["on_time"] / rows["delivered"].where(rows["delivered"] > 0)
        frames.append(
            rows.rename(columns={"delivered": f"delivered_{name}", "on_time": f"on_time_{name}"})
        )
    both = frames[0].merge(frames[1], on="carrier_name", how="outer")
    both["change_pp"] = (both["rate_now"] - both["rate_before"]) * 100
    return both.sort_values(["change_pp", "carrier_name"], na_position="last").reset_index(
        drop=True
    )


def category_return_rates(wh, first: date, last: date) -> pd.DataFrame:
    """Per product category: units returned (by request day) / units sold (by order day) over
    ``first``..``last``; the highest first."""
    units = _numeric(_frame(wh, CATEGORY_UNITS_SQL, [first, last]), "units")
    returned = _numeric(_frame(wh, CATEGORY_RETURNS_SQL, [first, last]), "returned_units")
    rates = units.merge(returned, on="category", how="left").fillna({"returned_units": 0})
    rates["return_rate"] = rates["returned_units"] / rates["units"].where(rates["units"] > 0)
    return rates.sort_values(["return_rate", "category"], ascending=[False, True]).reset_index(
        drop=True
    )


def channel_revenue_share(wh, first: date, last: date) -> pd.DataFrame:
    """Per sales channel: net revenue over ``first``..``last`` and its share of the total."""
    revenue = _numeric(_frame(wh, CHANNEL_SQL, [first, last]), "net_revenue")
    revenue["net_revenue"] = revenue["net_revenue"].round(2)
    revenue["share"] = revenue["net_revenue"] / revenue["net_revenue"].sum()
    return revenue.sort_values(["share", "channel"], ascending=[False, True]).reset_index(drop=True)


def answers(week: Week | None = None, environ: Mapping[str, str] | None = None) -> Answers:
    """The three answers for ``week`` (default: the latest complete week in the warehouse)."""
    with open_warehouse(environ) as wh:
        bounds = _frame(wh, DATA_RANGE_SQL, [])
        first, last = bounds.iloc[0]["first_day"], bounds.iloc[0]["last_day"]
        if first is None or pd.isna(first):
            raise NoData("the warehouse has no orders (marts.fct_orders): build the marts first")
        first, last = pd.Timestamp(first).date(), pd.Timestamp(last).date()
        week = week or latest_complete_week(last)
        if not (first <= week.end and week.start <= last):
            raise NoData(f"no data for {week}: the warehouse holds {first} to {last}")
        return Answers(
            week,
            (first, last),
            carrier_on_time_change(wh, week),
            category_return_rates(wh, first, last),
            channel_revenue_share(wh, week.start, week.end),
        )


# --------------------------------------------------------------------------- printing
def _percent(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.2%}"


def report(result: Answers) -> str:
    week, before = result.week, result.week.previous()
    carriers = result.carriers
    worst = carriers.iloc[0]
    verdict = "fell most:" if worst["change_pp"] < 0 else "none fell; the smallest rise:"
    table1 = pd.DataFrame(
        {
            "carrier": carriers["carrier_name"],
            f"on-time {before}": carriers["rate_before"].map(_percent),
            f"on-time {week}": carriers["rate_now"].map(_percent),
            "change (pp)": carriers["change_pp"].map(
                lambda v: "n/a" if pd.isna(v) else f"{v:+.2f}"
            ),
        }
    )
    categories = result.categories
    top = categories.iloc[0]
    table2 = pd.DataFrame(
        {
            "category": categories["category"],
            "units sold": categories["units"].map(lambda v: f"{v:,.0f}"),
            "units returned": categories["returned_units"].map(lambda v: f"{v:,.0f}"),
            "return rate": categories["return_rate"].map(_percent),
        }
    )
    channels = result.channels
    table3 = pd.DataFrame(
        {
            "channel": channels["channel"],
            "net revenue": channels["net_revenue"].map(lambda v: f"${v:,.2f}"),
            "share": channels["share"].map(_percent),
        }
    )
    first, last = result.data_range
    return "\n".join(
        [
            f"1. Which carrier's on-time rate fell most from {before} to {week}?",
            f"   {verdict} {worst['carrier_name']}: {_percent(worst['rate_before'])} -> "
            f"{_percent(worst['rate_now'])} ({worst['change_pp']:+.2f} pp)",
            table1.to_string(index=False),
            "",
            f"2. Which product category has the highest return rate ({first} to {last})?",
            f"   {top['category']}: {_percent(top['return_rate'])} of units sold came back",
            table2.to_string(index=False),
            "",
            f"3. What share of net revenue does each channel bring in {week}?",
            f"   {channels.iloc[0]['channel']} leads with {_percent(channels.iloc[0]['share'])}",
            table3.to_string(index=False),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bi.analytics", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--week", default=None, help="ISO week, YYYY-Www (default: the latest complete one)"
    )
    args = parser.parse_args(argv)
    try:
        week = Week.parse(args.week) if args.week else None
    except ValueError as exc:
        print(f"bi.analytics: {exc}", file=sys.stderr)
        return 2
    try:
        print(report(answers(week)))
    except (NoData, WarehouseReadError, OSError, RuntimeError, ValueError) as exc:
        print(f"bi.analytics: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
