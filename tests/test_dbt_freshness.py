"""Source freshness on quiet days: a delivered file with no rows is fresh.

``dbt source freshness`` reads each bronze table's freshness from the load audit (the newest
file loaded, ``macros/newest_file_loaded.sql``, the ``loaded_at_query`` that
``ingestion/dbt_sources.py`` writes into ``_sources.yml``), not from its newest row: on a day
without price changes the products file holds only its header, and the table is not stale for
that. A table whose files stop arriving is.

Six generated days are loaded as six daily batches; each batch's load times (the audit's and the
rows' ``_loaded_at``) are then moved back to the day it stands for (day 6 = now, day 5 = a day
ago, ...), so that dbt, comparing with its own clock, sees six days of history.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from data_generator import generate
from ingestion.contracts import CONTRACTS
from ingestion.landing import discover
from ingestion.loader import load_files
from tests.dbt_support import run_dbt

START = date(2026, 1, 1)
DAYS = 6
STOPPED = "orders"  # its files stop arriving after day 3
STOPPED_AFTER = 3


@pytest.fixture(scope="module")
def quiet_days(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quiet") / "landing"
    generate(start=START, days=DAYS, scale=0.05, seed=7, out=out)
    return out


def _data_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1


def _load_as_past_days(warehouse, landing: Path) -> None:
    """Day ``d`` loaded as its own batch, then dated ``DAYS - d`` days before now."""
    for n in range(1, DAYS + 1):
        day = START + timedelta(days=n - 1)
        files = [
            f
            for f in discover(landing, start=day, end=day)
            if not (f.table == STOPPED and n > STOPPED_AFTER)
        ]
        with warehouse.backend() as backend:
            report = load_files(backend, files)
        assert not report.failed, [r.message for r in report.failed]
        hours = 24 * (DAYS - n)
        if not hours:
            continue
        back = f"interval '{hours} hours'"
        batch = report.batch_id
        # (``returning``: the backends' query() fetches a result)
        moved = warehouse.query(
            f"update bronze._load_audit set started_at = started_at - {back}, "
            f"finished_at = finished_at - {back} where batch_id = '{batch}' returning batch_id"
        )
        assert len(moved) == len(files)
        for table in CONTRACTS:
            warehouse.query(
                f"update bronze.{table} set _loaded_at = _loaded_at - {back} "
                f"where _batch_id = '{batch}' returning _batch_id"
            )


def test_header_only_files_keep_a_table_fresh_and_a_silent_table_goes_stale(
    local_warehouse, quiet_days, tmp_path
):
    products = sorted((quiet_days / "products").glob("*.csv"))
    # the scenario: the last two product files hold only their header
    assert [_data_lines(p) for p in products[-2:]] == [0, 0]
    assert _data_lines(products[0]) > 0
    _load_as_past_days(local_warehouse, quiet_days)
    # the newest product row is two days old or more: by rows, the table would look stale
    oldest_ok = local_warehouse.scalar(
        "select count(*) from bronze.products "
        "where _loaded_at > (select max(started_at) from bronze._load_audit) - interval '26 hours'"
    )
    assert oldest_ok == 0

    result = run_dbt(tmp_path, local_warehouse.env, "source", "freshness")
    doc = tmp_path / "target" / "sources.json"
    assert doc.is_file(), f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    verdicts = {
        r["unique_id"].split(".")[-1]: (r["status"], r.get("max_loaded_at_time_ago_in_s"))
        for r in json.loads(doc.read_text())["results"]
    }
    daily = {name for name, c in CONTRACTS.items() if not c.reference}
    assert set(verdicts) == daily
    status, age = verdicts["products"]
    assert status == "pass", verdicts["products"]
    assert age < 3600
    # orders stopped after day 3: three days without a file is past error_after (50 hours)
    status, age = verdicts[STOPPED]
    assert status == "error", verdicts[STOPPED]
    assert 70 * 3600 < age < 74 * 3600
    # every other daily table got a file (rows or not) today
    assert {n: s for n, (s, _) in verdicts.items() if n != STOPPED} == dict.fromkeys(
        daily - {STOPPED}, "pass"
    )
    # dbt exits non-zero on a stale source: that is how the DAG task learns of it
    assert result.returncode == 1
