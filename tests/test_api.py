"""The metrics API over the sample warehouse: the catalog, ``/query`` (MetricFlow-compiled, equal to
the same numbers taken from the marts by hand), formats, ``explain``, every refusal (422, 413,
503, 504) and what the API can and cannot do to the warehouse.

The app runs in-process (FastAPI's TestClient drives the real app, lifespan included) on the
shared sample warehouse, opened read-only; tests that need a writer or extra tables use a copy.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from fastapi.testclient import TestClient

from metrics_api.app import create_app
from metrics_api.engine import QueryTimeout, Reader
from metrics_api.settings import ApiSettings
from tests.api_support import api_env, sample_warehouse  # noqa: F401 - fixture

WEEK = {"start": "2026-01-05", "end": "2026-01-11"}


@pytest.fixture
def settings(sample_warehouse, tmp_path) -> ApiSettings:  # noqa: F811
    return ApiSettings.from_env(api_env(sample_warehouse, tmp_path))


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as http:
        yield http


def _rows(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


# --------------------------------------------------------------------------- catalog
def test_metrics_lists_every_metric_of_the_semantic_layer_with_its_dimensions(client):
    metrics = {m["name"]: m for m in _rows(client.get("/metrics"))["metrics"]}
    assert len(metrics) == 51
    on_time = metrics["on_time_rate"]
    assert on_time["label"] == "On-time rate" and on_time["type"] == "ratio"
    assert {"carrier__carrier_name", "shipment__destination_state", "metric_time"} <= set(
        on_time["dimensions"]
    )
    assert "product_version__product_category" in metrics["net_revenue"]["dimensions"]
    assert "carrier__carrier_name" not in metrics["net_revenue"]["dimensions"]


# --------------------------------------------------------------------------- /query
def test_query_equals_the_marts_computed_by_hand(client, sample_warehouse):  # noqa: F811
    body = _rows(
        client.post(
            "/query",
            json={"metrics": ["net_revenue", "orders"], "group_by": ["order__channel"], **WEEK},
        )
    )
    got = {r["order__channel"]: (r["net_revenue"], r["orders"]) for r in body["rows"]}
    revenue = dict(
        sample_warehouse.query(
            "select channel, sum(net_revenue) from marts.fct_order_lines "
            "where ordered_date between ? and ? group by 1",
            [WEEK["start"], WEEK["end"]],
        )
    )
    orders = dict(
        sample_warehouse.query(
            "select channel, count(*) from marts.fct_orders "
            "where ordered_date between ? and ? group by 1",
            [WEEK["start"], WEEK["end"]],
        )
    )
    assert set(got) == set(revenue) == {"web", "mobile_app", "retail_partner", "marketplace"}
    for channel, (net, count) in got.items():
        assert net == pytest.approx(float(revenue[channel]), abs=0.01)
        assert count == orders[channel]

    rates = _rows(
        client.post(
            "/query",
            json={
                "metrics": ["on_time_rate"],
                "group_by": ["carrier__carrier_name"],
                "order_by": ["-on_time_rate"],
                **WEEK,
            },
        )
    )["rows"]
    expected = sample_warehouse.query(
        "select c.carrier_name, sum(case when s.is_on_time then 1 else 0 end) * 1.0 / "
        "sum(case when s.is_delivered then 1 else 0 end) as rate "
        "from marts.fct_shipments s join marts.dim_carrier c using (carrier_id) "
        "where s.shipped_date between ? and ? group by 1 order by rate desc",
        [WEEK["start"], WEEK["end"]],
    )
    assert [r["carrier__carrier_name"] for r in rates] == [name for name, _ in expected]
    assert [r["on_time_rate"] for r in rates] == pytest.approx([float(v) for _, v in expected])


def test_filters_grain_order_and_limit_shape_the_answer(client, sample_warehouse):  # noqa: F811
    body = _rows(
        client.post(
            "/query",
            json={
                "metrics": ["net_revenue"],
                "grain": "day",
                "filters": [{"dimension": "order__channel", "op": "=", "values": ["web"]}],
                "order_by": ["-net_revenue"],
                "limit": 3,
                **WEEK,
            },
        )
    )
    assert body["columns"] == ["metric_time__day", "net_revenue"]
    by_day = sample_warehouse.query(
        "select ordered_date, sum(net_revenue) from marts.fct_order_lines "
        "where channel = 'web' and ordered_date between ? and ? group by 1 order by 2 desc limit 3",
        [WEEK["start"], WEEK["end"]],
    )
    assert [(r["metric_time__day"], r["net_revenue"]) for r in body["rows"]] == [
        (day.isoformat(), pytest.approx(float(v))) for day, v in by_day
    ]


def test_csv_and_arrow_carry_the_same_rows_as_json(client):
    request = {
        "metrics": ["orders"],
        "group_by": ["order__channel"],
        "order_by": ["order__channel"],
    }
    as_json = _rows(client.post("/query", json=request))["rows"]
    csv = client.post("/query", json={**request, "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    table = pa_csv.read_csv(io.BytesIO(csv.content))
    assert table.to_pylist() == as_json
    arrow = client.post("/query", json={**request, "format": "arrow"})
    assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(io.BytesIO(arrow.content)).read_all()
    assert table.to_pylist() == as_json
    assert arrow.headers["x-cache"] == "hit"  # the three formats share one cached answer


def test_explain_returns_the_sql_metricflow_compiled_without_running_it(client):
    body = _rows(
        client.post(
            "/query",
            json={
                "metrics": ["on_time_rate"],
                "group_by": ["carrier__carrier_name"],
                "explain": True,
            },
        )
    )
    sql = body["sql"]
    assert '"marts"."fct_shipments"' in sql and '"marts"."dim_carrier"' in sql
    assert "CAST(on_time_shipments AS DOUBLE) / CAST(NULLIF(delivered_shipments, 0)" in sql
    assert "rows" not in body


def test_cumulative_metrics_stop_at_the_last_day_with_data(client, sample_warehouse):  # noqa: F811
    rows = _rows(
        client.post(
            "/query",
            json={
                "metrics": ["cumulative_net_revenue"],
                "grain": "day",
                "order_by": ["metric_time__day"],
            },
        )
    )["rows"]
    last_order = sample_warehouse.scalar("select max(ordered_date) from marts.fct_orders")
    assert rows[-1]["metric_time__day"] == last_order.isoformat()
    total = sample_warehouse.scalar("select sum(net_revenue) from marts.fct_order_lines")
    assert rows[-1]["cumulative_net_revenue"] == pytest.approx(float(total))
    # beyond the data: promised delivery days exist in dim_date, not in the answer
    assert sample_warehouse.scalar("select max(date_day) from marts.dim_date") > last_order
    weekly = _rows(
        client.post("/query", json={"metrics": ["cumulative_net_revenue"], "grain": "week"})
    )["rows"]
    assert max(r["cumulative_net_revenue"] for r in weekly) == pytest.approx(float(total))


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metrics": ["net_revnue"]}, "unknown metric 'net_revnue'; did you mean 'net_revenue'?"),
        (
            {"metrics": ["net_revenue"], "group_by": ["carrier__carrier_name"]},
            "net_revenue cannot be grouped by 'carrier__carrier_name'",
        ),
        (
            {
                "metrics": ["orders"],
                "filters": [{"dimension": "order__channel", "values": ["webb"]}],
            },
            "order__channel has no value 'webb' (did you mean 'web'?); it holds: marketplace, ",
        ),
        (
            {
                "metrics": ["orders"],
                "filters": [{"dimension": "order__channel", "values": ["web' or 1=1 --"]}],
            },
            "is not a value (1-80 letters, digits, spaces and . _ - / &)",
        ),
        ({"metrics": ["orders"], "where": "1=1"}, "where: Extra inputs are not permitted"),
        ({"metrics": ["orders; drop table x"]}, "metrics.0: String should match pattern"),
        ({"metrics": ["orders"], "limit": 100000}, "limit 100000 is above the 5000 rows allowed"),
        ({"metrics": ["orders"], "start": "2026-01-10", "end": "2026-01-01"}, "is after end"),
        ({"metrics": ["orders"], "order_by": ["-net_revenue"]}, "cannot order by 'net_revenue'"),
    ],
)
def test_a_request_that_fails_a_check_gets_422_saying_what_to_fix(client, body, message):
    response = client.post("/query", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_a_body_over_the_size_limit_is_refused_with_413(client):
    big = {
        "metrics": ["orders"],
        "filters": [{"dimension": "order__channel", "op": "in", "values": ["web"] * 50}],
    }
    padded = '{"metrics": ["orders"], "pad": "' + "x" * 20000 + '"}'
    declared = client.post("/query", content=padded, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "API_MAX_BODY_BYTES" in declared.json()["detail"]

    def chunks():  # no Content-Length: counted as it streams
        yield padded[:10000].encode()
        yield padded[10000:].encode()

    streamed = client.post("/query", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.post("/query", json=big).status_code == 200  # under the limit: answered


def test_an_answer_over_the_row_limit_is_refused_unless_limited(sample_warehouse, tmp_path):  # noqa: F811
    settings = ApiSettings.from_env(api_env(sample_warehouse, tmp_path, API_MAX_ROWS="5"))
    with TestClient(create_app(settings)) as http:
        by_product = {"metrics": ["units"], "group_by": ["product_version__product_name"]}
        refused = http.post("/query", json=by_product)
        assert refused.status_code == 422
        assert "more than 5 rows (API_MAX_ROWS)" in refused.json()["detail"]
        top = _rows(http.post("/query", json={**by_product, "order_by": ["-units"], "limit": 5}))
        assert len(top["rows"]) == 5


# --------------------------------------------------------------------------- read-only
def test_the_reader_cannot_write_read_files_or_run_forever(sample_warehouse, tmp_path):  # noqa: F811
    import duckdb

    reader = Reader(ApiSettings.from_env(api_env(sample_warehouse, tmp_path)), "warehouse")
    assert reader.run("select count(*) as n from marts.dim_carrier").column("n").to_pylist() == [5]
    with pytest.raises(duckdb.Error, match="read-only mode"):
        reader.run("create table marts.x as select 1 as a")
    with pytest.raises(duckdb.Error, match="file system operations are disabled"):
        reader.run("select * from read_csv('/etc/passwd')")
    with pytest.raises(duckdb.Error, match="configuration has been locked"):
        reader.run("set enable_external_access = true")
    slow = Reader(
        ApiSettings.from_env(api_env(sample_warehouse, tmp_path, API_STATEMENT_TIMEOUT="0.5")),
        "warehouse",
    )
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"longer than 0\.5 s"):
        slow.run("select count(*) from range(100000000000) a")
    assert time.monotonic() - started < 5


def test_while_a_writer_holds_the_file_new_questions_get_503_and_cached_ones_are_served(
    sample_warehouse,  # noqa: F811
    tmp_path,
):
    copy = sample_warehouse.copy(tmp_path / "copy")
    settings = ApiSettings.from_env(api_env(sample_warehouse, tmp_path, DUCKDB_PATH=str(copy)))
    cached = {"metrics": ["orders"], "group_by": ["order__channel"]}
    with TestClient(create_app(settings)) as http:
        assert http.post("/query", json=cached).headers["x-cache"] == "miss"
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                "print('holding', flush=True); time.sleep(120)",
                str(copy),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        try:
            assert writer.stdout.readline().strip() == "holding"
            assert http.post("/query", json=cached).headers["x-cache"] == "hit"
            busy = http.post("/query", json={"metrics": ["units"]})
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "5"
            assert "is being written" in busy.json()["detail"]
        finally:
            writer.terminate()
            writer.wait(timeout=10)
        assert _rows(http.post("/query", json={"metrics": ["units"]}))["rows"][0]["units"] > 0


def test_a_missing_warehouse_is_named_not_hidden(sample_warehouse, tmp_path):  # noqa: F811
    settings = ApiSettings.from_env(
        api_env(sample_warehouse, tmp_path, DUCKDB_PATH=str(tmp_path / "nowhere.duckdb"))
    )
    with pytest.raises(FileNotFoundError, match=r"nowhere.duckdb does not exist: build it"):
        Reader(settings, "warehouse").run("select 1")


# --------------------------------------------------------------------------- /status, /alerts
def test_status_names_the_build_the_cache_and_the_last_day(client):
    body = _rows(client.get("/status"))
    assert body["target"] == "duckdb" and body["metrics"] == 51
    assert body["last_day"] == "2026-01-14"
    assert body["cache"]["backend"] == "memory"
    assert body["build"]["id"] == "unpublished"


def test_alerts_list_failed_checks_and_anomalies_newest_first_without_row_values(
    sample_warehouse,  # noqa: F811
    tmp_path,
):
    import duckdb

    copy = sample_warehouse.copy(tmp_path / "copy")
    settings = ApiSettings.from_env(api_env(sample_warehouse, tmp_path, DUCKDB_PATH=str(copy)))
    with TestClient(create_app(settings)) as http:
        assert _rows(http.get("/alerts"))["alerts"] == []  # no quality run yet
    with duckdb.connect(str(copy)) as con:
        con.execute("create schema quality")
        con.execute(
            "create table quality.check_results (run_id varchar, checked_at timestamp, "
            "layer varchar, check_date date, suite varchar, expectation varchar, "
            "column_name varchar, severity varchar, success boolean, unexpected_count bigint, "
            "observed varchar, data_docs_url varchar)"
        )
        con.execute(
            "insert into quality.check_results values "
            "('r1', '2026-01-14 06:00', 'bronze', '2026-01-14', 'bronze.orders', "
            "'values:not_null', 'order_id', 'error', false, 3, 'a***@example.com', ''), "
            "('r1', '2026-01-14 06:00', 'bronze', '2026-01-14', 'bronze.carriers', "
            "'rows:min', null, 'warn', true, 0, '', '')"
        )
        con.execute(
            "create table quality.anomaly_results (scored_at timestamp, day date, metric varchar, "
            "value double, baseline_median double, mad double, z double, threshold double, "
            "history_days bigint, is_anomaly boolean, status varchar)"
        )
        con.execute(
            "insert into quality.anomaly_results values ('2026-01-14 07:00', '2026-01-14', "
            "'revenue', 1200.0, 80000.0, 5000.0, -15.76, 3.5, 8, true, 'scored')"
        )
    with TestClient(create_app(settings)) as http:
        alerts = _rows(http.get("/alerts"))["alerts"]
    assert [a["kind"] for a in alerts] == ["anomaly", "check"]
    assert alerts[0]["title"] == "anomaly in revenue on 2026-01-14"
    assert "z = -15.8" in alerts[0]["detail"]  # a table of the first version (baseline_median)
    assert alerts[1]["title"] == "bronze check failed: bronze.orders values:not_null"
    assert alerts[1]["severity"] == "error"
    assert "example.com" not in str(alerts)

    # the table as the quality monitors write it today, through their own writer
    from datetime import date

    from ingestion.warehouse import connect
    from quality.anomalies import write
    from quality.monitors.detect import Score

    with duckdb.connect(str(copy)) as con:
        con.execute("drop table quality.anomaly_results")
    day = date(2026, 1, 14)
    scores = [
        Score(day, "revenue[channel=web]", 42_800_000.0, 399_000.0, 20_000.0, 2124.0, 4.5, True,
              "anomaly", 14, family="segment", base_metric="revenue", dimension="channel",
              segment="web", share=0.97, detail="revenue of channel web 107x its usual level"),
        Score(day, "orders", 5200.0, 5300.0, 90.0, -1.1, 4.5, False, "ok", 14),
    ]  # fmt: skip
    wh = connect({"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(copy)})
    try:
        assert write(wh, scores, day) == 2
    finally:
        wh.close()
    with TestClient(create_app(settings)) as http:
        alerts = _rows(http.get("/alerts"))["alerts"]
    anomalies = [a for a in alerts if a["kind"] == "anomaly"]
    assert [a["title"] for a in anomalies] == ["anomaly in revenue[channel=web] on 2026-01-14"]
    assert anomalies[0]["detail"] == "revenue of channel web 107x its usual level"
    # the series an anomaly alert links to: one monitor's days, its label compared as data
    with TestClient(create_app(settings)) as http:
        got = _rows(http.get("/anomalies", params={"metric": "revenue[channel=web]"}))
        hostile = _rows(http.get("/anomalies", params={"metric": "x'; drop table quality.a; --"}))
        empty = http.get("/anomalies", params={"metric": ""})
    assert [(r["day"], r["value"], r["baseline"], r["z"], r["share"]) for r in got["series"]] == [
        ("2026-01-14", 42_800_000.0, 399_000.0, 2124.0, 0.97)
    ]
    assert hostile["series"] == [] and empty.status_code == 422
