"""The synthetic company: reproducible, referentially sound, ordered in time, realistic."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from data_generator import generate
from ingestion.contracts import CONTRACTS

START = date(2026, 1, 1)


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _views(landing: Path) -> duckdb.DuckDBPyConnection:
    """Every table of a clean landing zone as a DuckDB view, typed by its contract."""
    con = duckdb.connect()
    for name, contract in CONTRACTS.items():
        cols = ", ".join(f"'{c.name}': '{c.type}'" for c in contract.columns)
        con.execute(
            f"""create view {name} as select * from read_csv('{landing}/{name}/*.csv',
                header = true, quote = '"', escape = '"', columns = {{{cols}}},
                filename = true)"""
        )
    return con


def test_same_seed_and_arguments_give_byte_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(START, 6, 0.05, 3, a, faults="all")
    generate(START, 6, 0.05, 3, b, faults="all")
    generate(START, 6, 0.05, 4, c, faults="all")
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert len(ha) > 60
    assert ha == hb
    assert ha["orders/2026-01-03.csv"] != hc["orders/2026-01-03.csv"]


def test_a_shorter_run_is_a_prefix_of_a_longer_one(tmp_path):
    generate(START, 4, 0.05, 9, tmp_path / "short")
    generate(START, 9, 0.05, 9, tmp_path / "long")
    short, long = _hashes(tmp_path / "short"), _hashes(tmp_path / "long")
    csvs = [k for k in short if k.endswith(".csv")]
    assert len(csvs) > 30
    assert {k: short[k] for k in csvs} == {k: long[k] for k in csvs}


def test_files_have_the_contract_columns_in_order(clean_landing):
    for name, contract in CONTRACTS.items():
        files = sorted((clean_landing / name).glob("*.csv"))
        assert files, name
        for f in files:
            header = f.read_text(encoding="utf-8").split("\n", 1)[0]
            assert header == ",".join(contract.column_names), f


def test_one_file_per_table_per_day_with_reference_tables_on_day_one(clean_landing):
    for name, contract in CONTRACTS.items():
        files = sorted(p.name for p in (clean_landing / name).glob("*.csv"))
        if contract.reference:
            assert files == ["2026-01-01.csv"], name
        else:
            expected = [f"{START + timedelta(days=d)}.csv" for d in range(35)]
            assert files == expected, name


FOREIGN_KEYS = [
    ("orders", "customer_id", "customers", "customer_id"),
    ("order_lines", "order_id", "orders", "order_id"),
    ("order_lines", "product_id", "products", "product_id"),
    ("shipments", "order_id", "orders", "order_id"),
    ("shipments", "carrier_id", "carriers", "carrier_id"),
    ("shipments", "facility_id", "facilities", "facility_id"),
    ("shipments", "destination_city", "weather_daily", "city"),
    ("returns", "order_line_id", "order_lines", "order_line_id"),
    ("delivery_feedback", "shipment_id", "shipments", "shipment_id"),
    ("delivery_feedback", "order_id", "orders", "order_id"),
    ("delivery_feedback", "customer_id", "customers", "customer_id"),
    ("quality_inspections", "product_id", "products", "product_id"),
    ("quality_inspections", "facility_id", "facilities", "facility_id"),
    ("waste_events", "facility_id", "facilities", "facility_id"),
    ("waste_events", "material_id", "materials", "material_id"),
    ("waste_events", "inspection_id", "quality_inspections", "inspection_id"),
    ("recipe_lines", "product_id", "products", "product_id"),
    ("recipe_lines", "material_id", "materials", "material_id"),
]


@pytest.mark.parametrize(
    ("child", "fk", "parent", "pk"), FOREIGN_KEYS, ids=[f"{c}.{k}" for c, k, _, _ in FOREIGN_KEYS]
)
def test_every_foreign_key_points_at_an_existing_parent(clean_landing, child, fk, parent, pk):
    con = _views(clean_landing)
    children = con.execute(f"select count({fk}) from {child}").fetchone()[0]
    orphans = con.execute(
        f"select count(*) from {child} c where c.{fk} is not null and not exists "
        f"(select 1 from {parent} p where p.{pk} = c.{fk})"
    ).fetchone()[0]
    assert children > 0
    assert orphans == 0


def test_a_child_arrives_no_earlier_than_its_parent(clean_landing):
    """A parent row is in the same day's batch as its child, or an earlier one."""
    con = _views(clean_landing)
    early = con.execute("""
        select count(*) from order_lines l join (
            select order_id, min(filename) as f from orders group by 1) o using (order_id)
        where o.f.split('/')[-1] > l.filename.split('/')[-1]
    """).fetchone()[0]
    assert early == 0


def test_event_times_are_ordered(clean_landing):
    con = _views(clean_landing)
    checks = {
        "shipped before ordered": """
            select count(*) from shipments s join orders o
              on o.order_id = s.order_id and o.status = 'placed'
            where s.shipped_at < o.ordered_at""",
        "delivered before shipped": """
            select count(*) from shipments where delivered_at < shipped_at""",
        "return before delivery": """
            select count(*) from returns r join order_lines l using (order_line_id)
            join shipments s on s.order_id = l.order_id and s.status = 'delivered'
            where r.requested_at < s.delivered_at""",
        "return of an undelivered order": """
            select count(*) from returns r join order_lines l using (order_line_id)
            where not exists (select 1 from shipments s
                              where s.order_id = l.order_id and s.status = 'delivered')""",
        "feedback before delivery": """
            select count(*) from delivery_feedback f join shipments s
              on s.shipment_id = f.shipment_id and s.status = 'delivered'
            where f.submitted_at < s.delivered_at""",
        "order updated before placed": "select count(*) from orders where updated_at < ordered_at",
        "customer updated before created": "select count(*) from customers where updated_at < created_at",
    }
    found = {name: con.execute(sql).fetchone()[0] for name, sql in checks.items()}
    assert found == dict.fromkeys(checks, 0)
    delivered = con.execute("select count(*) from shipments where status = 'delivered'").fetchone()
    assert delivered[0] > 1000


def test_money_reconciles(clean_landing):
    con = _views(clean_landing)
    over_refunded, negative_net, returned_too_many = con.execute("""
        select
            count(*) filter (where r.refund_amount > l.quantity * l.unit_price - l.discount_amount),
            count(*) filter (where l.quantity * l.unit_price - l.discount_amount < 0),
            count(*) filter (where r.quantity > l.quantity)
        from returns r join order_lines l using (order_line_id)
    """).fetchone()
    assert (over_refunded, negative_net, returned_too_many) == (0, 0, 0)


def test_unit_price_is_the_list_price_valid_when_ordered(clean_landing):
    con = _views(clean_landing)
    changed = con.execute(
        "select count(*) from (select product_id from products group by 1 having count(*) > 1)"
    ).fetchone()[0]
    mismatched, checked = con.execute("""
        with versions as (
            select product_id, list_price, updated_at as valid_from,
                   lead(updated_at) over (partition by product_id order by updated_at) as valid_to
            from products
        )
        select count(*) filter (where l.unit_price <> v.list_price), count(*)
        from order_lines l
        join orders o on o.order_id = l.order_id and o.status = 'placed'
        join versions v on v.product_id = l.product_id
         and o.ordered_at >= v.valid_from and (o.ordered_at < v.valid_to or v.valid_to is null)
    """).fetchone()
    lines = con.execute("select count(*) from order_lines").fetchone()[0]
    assert changed >= 3, "prices should change now and then"
    assert checked == lines
    assert mismatched == 0


def test_keys_are_unique_within_each_daily_file(clean_landing):
    con = _views(clean_landing)
    for name, contract in CONTRACTS.items():
        key = ", ".join(contract.primary_key)
        dupes = con.execute(
            f"select count(*) from (select {key}, filename from {name} "
            f"group by all having count(*) > 1)"
        ).fetchone()[0]
        assert dupes == 0, name


def test_versioned_entities_change_over_time(clean_landing):
    con = _views(clean_landing)
    segment_changes = con.execute("""
        select count(*) from (select customer_id from customers
                              group by 1 having count(distinct segment) > 1)""").fetchone()[0]
    statuses = dict(con.execute("select status, count(*) from orders group by 1").fetchall())
    assert segment_changes > 0
    assert set(statuses) == {"placed", "shipped", "delivered", "cancelled"}
    assert statuses["placed"] > statuses["delivered"] > statuses["cancelled"]


def test_demand_has_a_weekday_shape(clean_landing):
    con = _views(clean_landing)
    per_weekday = dict(
        con.execute("""
        select isodow(ordered_at), count(*) / count(distinct ordered_at::date)
        from orders where status = 'placed' and ordered_at >= date '2026-01-05'
        group by 1""").fetchall()
    )
    assert per_weekday[1] > per_weekday[6] * 1.2  # Monday busier than Saturday


def test_delivery_delay_depends_on_carrier_distance_and_weather(clean_landing):
    con = _views(clean_landing)
    late = """avg(case when s.delivered_at > s.promised_at then 1.0 else 0 end)"""
    by_carrier = dict(
        con.execute(f"""
        select c.carrier_name, {late} from shipments s join carriers c using (carrier_id)
        where s.status = 'delivered' group by 1""").fetchall()
    )
    bad_weather, good_weather = con.execute(f"""
        select {late} filter (where w.condition in ('snow', 'storm')),
               {late} filter (where w.condition = 'clear')
        from shipments s join weather_daily w
          on w.city = s.destination_city and w.weather_date = s.shipped_at::date
        where s.status = 'delivered'""").fetchone()
    far, near = con.execute(f"""
        select {late} filter (where distance_km > 1500), {late} filter (where distance_km < 500)
        from shipments s where status = 'delivered'""").fetchone()
    assert by_carrier["BudgetShip"] > by_carrier["SwiftParcel"] + 0.1
    assert bad_weather > good_weather + 0.1
    assert far > near


def test_defects_depend_on_facility_and_waste_follows_failed_lots(clean_landing):
    con = _views(clean_landing)
    rates = dict(
        con.execute("""
        select f.facility_name, sum(defects_found) / sum(sample_size)
        from quality_inspections i join facilities f using (facility_id) group by 1""").fetchall()
    )
    assert rates["Reno Assembly"] > 1.5 * rates["Allentown Mill"]
    scrap_without_failure = con.execute("""
        select count(*) from waste_events w join quality_inspections i using (inspection_id)
        where w.waste_type = 'scrap' and i.result <> 'fail'""").fetchone()[0]
    failed_without_scrap = con.execute("""
        select count(*) from quality_inspections i where result = 'fail' and not exists (
            select 1 from waste_events w where w.inspection_id = i.inspection_id)""").fetchone()[0]
    assert (scrap_without_failure, failed_without_scrap) == (0, 0)


def test_shipments_and_returns_arrive_on_later_days(clean_landing):
    con = _views(clean_landing)
    lag = con.execute("""
        select min(date_diff('day', o.ordered_at::date, s.shipped_at::date)),
               max(date_diff('day', o.ordered_at::date, r.requested_at::date))
        from orders o join shipments s using (order_id)
        join order_lines l using (order_id) join returns r using (order_line_id)
        where o.status = 'placed'""").fetchone()
    assert lag[0] >= 1
    assert lag[1] >= 7


def test_scale_changes_volume_roughly_linearly(tmp_path):
    small = generate(START, 7, 0.1, 5, tmp_path / "s")
    large = generate(START, 7, 0.4, 5, tmp_path / "l")
    for table in ("orders", "order_lines", "shipments", "customers"):
        ratio = large.rows_per_table[table] / small.rows_per_table[table]
        assert 3.3 < ratio < 4.7, (table, ratio)


def test_manifest_counts_every_row_of_every_file(clean_landing):
    manifest = json.loads((clean_landing / "_manifest.json").read_text())
    assert manifest["generator"]["seed"] == 7
    for rel, rows in manifest["files"].items():
        text = (clean_landing / rel).read_text(encoding="utf-8")
        assert text.count("\n") - 1 == rows, rel
    assert not (clean_landing / "_faults.json").exists()
