"""The asset chain under Airflow's real scheduler (the one ``make airflow`` starts).

A private Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor; SQLite) is
started on a free loopback port, one ``ingest_daily`` run is triggered, and the test waits (bounded)
for the ``bronze`` asset to trigger ``transform`` and the ``marts`` asset to trigger
``quality_checks``. Every component is stopped by PID at the end, pass or fail.

It also proves the DuckDB pool: tasks in ``warehouse_writes`` (one slot on DuckDB) never ran at the
same time, although the executor had room for four tasks and several were ready together.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from datetime import datetime

import pytest

from tests.airflow_support import build_warehouse, free_port, platform_env, run

pytestmark = pytest.mark.slow

# A few independent staging models: several watcher tasks are ready at the same moment.
SELECT = (
    "stg_bronze__carriers stg_bronze__facilities stg_bronze__materials stg_bronze__weather_daily"
)
CHAIN = ("ingest_daily", "transform", "quality_checks")


def _runs(db) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for dag_id, state, run_type in db.execute("select dag_id, state, run_type from dag_run"):
        out.setdefault(dag_id, []).append((state, run_type))
    return out


@pytest.fixture(scope="module")
def scheduled_chain(tmp_path_factory):
    from orchestration.home import AIRFLOW_BIN, setup
    from orchestration.serve import server_env, start, stop, wait_healthy

    work = tmp_path_factory.mktemp("scheduler")
    env = platform_env(
        work,
        AIRFLOW_PORT=str(free_port()),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        INGEST_SCHEDULE="none",
        TRANSFORM_SELECT=SELECT,
    )
    env["AIRFLOW__API__PORT"] = env["AIRFLOW_PORT"]
    build_warehouse(env, work)
    setup(env)
    env = server_env(env)
    procs = start(env)
    db_path = f"{env['AIRFLOW_HOME']}/airflow.db"
    try:
        wait_healthy(env, procs, timeout=180)
        airflow = [AIRFLOW_BIN]
        deadline = time.monotonic() + 120
        while True:  # the dag-processor has to serialize the DAGs before they can be unpaused
            listed = run(env, *airflow, "dags", "list", "-o", "plain").stdout
            if all(d in listed for d in (*CHAIN, "ml_retrain")):
                break
            assert time.monotonic() < deadline, f"DAGs never appeared:\n{listed}"
            time.sleep(3)
        for dag_id in (*CHAIN, "ml_retrain"):
            run(env, *airflow, "dags", "unpause", dag_id)
        run(
            env,
            *airflow,
            "dags",
            "trigger",
            "ingest_daily",
            "--logical-date",
            "2026-01-14T00:00:00+00:00",
        )
        deadline = time.monotonic() + 420
        with sqlite3.connect(db_path, timeout=30) as db:
            while time.monotonic() < deadline:
                runs = _runs(db)
                states = {d: [s for s, _ in runs.get(d, [])] for d in CHAIN}
                if any("failed" in s for s in states.values()) or "success" in states[CHAIN[-1]]:
                    break
                time.sleep(3)
            runs = _runs(db)
            pool_tis = db.execute(
                "select dag_id, task_id, start_date, end_date, pool from task_instance "
                "where state = 'success' order by start_date"
            ).fetchall()
        yield runs, pool_tis
    finally:
        stop(procs)
        for name, proc in procs.items():
            assert proc.poll() is not None, f"airflow {name} (pid {proc.pid}) still running"


def test_ingest_daily_triggers_transform_which_triggers_quality_checks(scheduled_chain):
    runs, _ = scheduled_chain
    assert runs["ingest_daily"] == [("success", "manual")], runs
    assert ("success", "asset_triggered") in runs.get("transform", []), runs
    assert ("success", "asset_triggered") in runs.get("quality_checks", []), runs


def test_warehouse_writes_never_overlap_in_the_one_slot_pool(scheduled_chain):
    _, tis = scheduled_chain
    pooled = [t for t in tis if t[4] == "warehouse_writes"]
    names = {t[1] for t in pooled}
    assert {"load_bronze", "source_freshness", "dbt.dbt_producer_watcher"} <= names
    assert sum(1 for n in names if n.endswith(".run")) >= 4  # several watchers were ready at once
    spans = sorted(
        (datetime.fromisoformat(s), datetime.fromisoformat(e), t) for _, t, s, e, _ in pooled
    )
    for (s1, e1, t1), (s2, e2, t2) in itertools.pairwise(spans):
        assert s2 >= e1, f"{t1} ({s1}..{e1}) overlapped {t2} ({s2}..{e2}) in the one-slot pool"
