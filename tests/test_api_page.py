"""The live operations page in headless Chromium, served by ``python -m metrics_api serve`` on
127.0.0.1: after its scripts ran, the KPI cards hold the numbers of the marts (computed here with
SQL of our own), the charts are drawn from the API, and every file the page loaded came from the
API itself (Chromium's network log), none from the network. A screenshot is taken and checked for
drawn content (``.local/metrics_api/page.png`` keeps the last one to look at).

Chromium resolves no host but 127.0.0.1 here (``--host-resolver-rules``): the browser's own
background calls cannot leave the machine either.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

from metrics_api.app import STATIC
from tests.api_support import ROOT, Server, api_env, sample_warehouse  # noqa: F401 - fixture

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1400,1100",
    "--virtual-time-budget=15000",
]


def _chromium() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if found is None:
        if os.environ.get("REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (set REQUIRE_CHROMIUM=1 to fail)")
    return found


def _browse(url: str, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    done = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, url],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _page_requests(net_log: Path, origin: str) -> list[str]:
    """URLs the page asked for (the navigation and every request it initiated)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start or "url" not in params:
            continue
        if params.get("initiator") == origin or params["url"].rstrip("/") == origin:
            urls.append(params["url"])
    return urls


def _dark_share(png: Path) -> float:
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
        return sum(grey.histogram()[:200]) / (grey.width * grey.height)


def test_the_page_loads_nothing_from_the_network():
    html = (STATIC / "index.html").read_text() + (STATIC / "app.js").read_text()
    assert re.findall(r"""(?:src|href)=["']https?://""", html) == []
    assert re.findall(r"""fetch\(["']https?://""", html) == []
    vendored = STATIC / "vendor" / "echarts-6.1.0"
    assert (vendored / "echarts.min.js").stat().st_size > 500_000
    assert "Apache License" in (vendored / "LICENSE").read_text()


def test_the_live_page_shows_the_marts_and_loads_only_local_files(sample_warehouse, tmp_path):  # noqa: F811
    _chromium()
    wh = sample_warehouse
    with Server(api_env(wh, tmp_path), tmp_path / "server.log") as server:
        net_log = tmp_path / "net.json"
        dom = _browse(server.url + "/", tmp_path, "--dump-dom", f"--log-net-log={net_log}").stdout
        png = tmp_path / "page.png"
        _browse(server.url + "/", tmp_path, f"--screenshot={png}")

    assert 'data-ready="true"' in dom, dom[:3000]
    cards = {
        m[0]: (m[1], m[2])
        for m in re.findall(r'id="kpi-(\w+)" data-value="([^"]*)" data-day="([^"]*)"', dom)
    }
    assert set(cards) == {"net_revenue", "orders", "on_time_rate", "defects", "waste_kg"}

    def day_of(metric: str) -> str:
        return cards[metric][1]

    expected = {
        "net_revenue": wh.scalar(
            "select sum(net_revenue) from marts.fct_order_lines where ordered_date = ?",
            [day_of("net_revenue")],
        ),
        "orders": wh.scalar(
            "select count(*) from marts.fct_orders where ordered_date = ?", [day_of("orders")]
        ),
        "on_time_rate": wh.scalar(
            "select sum(case when is_on_time then 1 else 0 end) * 1.0 / "
            "sum(case when is_delivered then 1 else 0 end) from marts.fct_shipments "
            "where shipped_date = ?",
            [day_of("on_time_rate")],
        ),
        "defects": wh.scalar(
            "select sum(defects_found) from marts.fct_quality_inspections where inspected_date = ?",
            [day_of("defects")],
        ),
        "waste_kg": wh.scalar(
            "select sum(quantity_kg) from marts.fct_waste_events where recorded_date = ?",
            [day_of("waste_kg")],
        ),
    }
    for metric, value in expected.items():
        assert float(cards[metric][0]) == pytest.approx(float(value)), metric
    # revenue and orders are for the last day with data; the on-time rate for the newest day
    # with a delivered parcel (parcels shipped that last day are still on their way)
    assert day_of("net_revenue") == day_of("orders") == "2026-01-14"
    newest_delivered = wh.scalar(
        "select max(shipped_date) from marts.fct_shipments where is_delivered"
    )
    assert day_of("on_time_rate") == newest_delivered.isoformat()

    # the charts: 14 days of revenue, a heat-map cell per carrier x state with a delivered parcel
    assert re.search(r'id="series"[^>]*data-days="14"', dom)
    week_start = (date(2026, 1, 14) - timedelta(days=6)).isoformat()
    pairs = wh.scalar(
        "select count(*) from (select carrier_id, destination_state from marts.fct_shipments "
        "where is_delivered and shipped_date between ? and '2026-01-14' group by 1, 2)",
        [week_start],
    )
    assert re.search(rf'id="heatmap"[^>]*data-cells="{pairs}"', dom), pairs
    assert dom.count("<svg") >= 2  # ECharts drew both charts (SVG renderer)
    assert "no alerts" in dom

    requests = _page_requests(net_log, server.url)
    assert f"{server.url}/static/vendor/echarts-6.1.0/echarts.min.js" in requests
    # three queries a refresh; 15 s of the page's (virtual) time saw the auto-refresh run again
    queries = sum(u == f"{server.url}/query" for u in requests)
    assert queries >= 6 and queries % 3 == 0, requests
    assert sum(u == f"{server.url}/status" for u in requests) >= 2
    assert [u for u in requests if not u.startswith(server.url + "/")] == []

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _dark_share(png) > 0.03, _dark_share(png)  # cards, charts and heat map drawn
    keep = ROOT / ".local" / "metrics_api"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, keep / "page.png")
