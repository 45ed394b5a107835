"""The Python analytics example (``python -m bi.analytics``) on the sample warehouse, on DuckDB
and on PostgreSQL: each of its three answers equals the same question asked here in SQL written
another way, and the script prints the three tables with the answer on top."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest

from bi.analytics import answers
from bi.review import Week
from tests.bi_report_support import PY, query, sample_warehouse

W02 = Week(2026, 2)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("duckdb", marks=pytest.mark.slow),
        pytest.param("postgres", marks=[pytest.mark.slow, pytest.mark.postgres]),
    ],
)
def warehouse(request, tmp_path_factory):
    work = tmp_path_factory.mktemp(f"bi_analytics_{request.param}")
    with sample_warehouse(work, request.param) as env:
        yield env


@pytest.fixture(scope="module")
def result(warehouse):
    return answers(W02, warehouse)


def data_range(env) -> tuple[date, date]:
    [(first, last)] = query(
        env, "select min(ordered_date), max(ordered_date) from marts.fct_orders"
    )
    return first, last


def on_time_by_carrier(env, week: Week) -> dict[str, float]:
    """The share of delivered parcels on time, as an average of 1/0 over delivered rows."""
    rows = query(
        env,
        "select c.carrier_name, avg(case when s.is_on_time then 1.0 else 0.0 end) "
        "from marts.fct_shipments as s "
        "inner join marts.dim_carrier as c on c.carrier_id = s.carrier_id "
        "where s.is_delivered and s.shipped_date between ? and ? group by c.carrier_name",
        [week.start, week.end],
    )
    return {name: float(rate) for name, rate in rows}


def test_the_carrier_whose_on_time_rate_fell_most_is_first(warehouse, result):
    before, now = on_time_by_carrier(warehouse, W02.previous()), on_time_by_carrier(warehouse, W02)
    change = {c: (now[c] - before[c]) * 100 for c in now.keys() & before.keys()}
    table = result.carriers.set_index("carrier_name")
    assert set(table.index) == set(now) | set(before)
    for carrier, points in change.items():
        assert table.loc[carrier, "rate_before"] == pytest.approx(before[carrier], rel=1e-9)
        assert table.loc[carrier, "rate_now"] == pytest.approx(now[carrier], rel=1e-9)
        assert table.loc[carrier, "change_pp"] == pytest.approx(points, rel=1e-9)
    assert result.carriers.iloc[0]["carrier_name"] == min(change, key=change.get)


def test_the_category_with_the_highest_return_rate_is_first(warehouse, result):
    first, last = data_range(warehouse)
    # returns reach their category through the order line returned, not their own version key
    returned = dict(
        query(
            warehouse,
            "select p.category, sum(r.quantity) from marts.fct_returns as r "
            "inner join marts.fct_order_lines as l on l.order_line_id = r.order_line_id "
            "inner join marts.dim_product as p on p.product_version_key = l.product_version_key "
            "where r.requested_date between ? and ? group by p.category",
            [first, last],
        )
    )
    sold = dict(
        query(
            warehouse,
            "select p.category, sum(l.quantity) from marts.fct_order_lines as l "
            "inner join marts.dim_product as p on p.product_version_key = l.product_version_key "
            "where l.ordered_date between ? and ? group by p.category",
            [first, last],
        )
    )
    rates = {c: int(returned.get(c, 0)) / int(units) for c, units in sold.items()}
    table = result.categories.set_index("category")
    assert set(table.index) == set(sold)
    for category, rate in rates.items():
        assert table.loc[category, "units"] == int(sold[category])
        assert table.loc[category, "return_rate"] == pytest.approx(rate, rel=1e-12)
    assert result.categories.iloc[0]["category"] == max(rates, key=rates.get)
    assert result.data_range == (first, last)


def test_channel_shares_of_net_revenue_add_up_and_match_the_orders(warehouse, result):
    # from the orders fact (each order's lines summed), not the lines the example reads
    revenue = dict(
        query(
            warehouse,
            "select channel, sum(net_revenue) from marts.fct_orders "
            "where ordered_date between ? and ? group by channel",
            [W02.start, W02.end],
        )
    )
    total = sum(revenue.values())
    table = result.channels.set_index("channel")
    assert set(table.index) == set(revenue)
    for channel, amount in revenue.items():
        assert round(table.loc[channel, "net_revenue"], 2) == float(amount)
        assert table.loc[channel, "share"] == pytest.approx(float(amount / total), rel=1e-9)
    assert table["share"].sum() == pytest.approx(1.0)
    assert result.channels.iloc[0]["channel"] == max(revenue, key=revenue.get)


def test_script_prints_three_answers_for_the_latest_complete_week(warehouse, result):
    import subprocess

    from tests.airflow_support import ROOT

    done = subprocess.run(
        [PY, "-m", "bi.analytics"],
        env=warehouse,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # the latest complete week ends on the last Sunday the data reaches
    last = data_range(warehouse)[1]
    week = Week.of(last - timedelta(days=last.isoweekday() % 7))  # its last Sunday
    assert week == W02
    assert f"1. Which carrier's on-time rate fell most from {week.previous()} to {week}?" in out
    assert "2. Which product category has the highest return rate" in out
    assert f"3. What share of net revenue does each channel bring in {week}?" in out
    lines = out.splitlines()
    answer1 = lines[lines.index(next(x for x in lines if x.startswith("1. "))) + 1]
    assert result.carriers.iloc[0]["carrier_name"] in answer1
    assert f"{result.categories.iloc[0]['category']}: " in out
    for channel in result.channels["channel"]:
        assert channel in out


def test_malformed_week_is_one_line_and_exit_2(tmp_path):
    import subprocess

    env = {**os.environ, "WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(tmp_path / "x.duckdb")}
    done = subprocess.run(
        [PY, "-m", "bi.analytics", "--week", "2026-02"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "bi.analytics: week '2026-02' is not an ISO week: write YYYY-Www, e.g. 2026-W02"
    )
