"""A local Airflow home under ``.local/airflow``: SQLite metadata, pools, connections from env.

``airflow_env()`` is the environment every local Airflow command runs with (``make run``,
``make airflow`` and the tests); ``setup()`` migrates the metadata database and creates the
warehouse pool. Nothing here is needed in docker-compose, where the same settings come from the
compose file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from platform_core.settings import REPO, current

from .connections import alert_connections

DAGS = REPO / "dags"
AIRFLOW_BIN = str(Path(sys.executable).parent / "airflow")


def airflow_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a local Airflow: home, SQLite DB and DAG folder under this repo."""
    env = dict(os.environ if environ is None else environ)
    settings = current(env)
    home = settings.airflow_home
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{quote(str(home / 'airflow.db'))}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.get("AIRFLOW_PORT")),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "DUCKDB_PATH": str(settings.duckdb_path),
        "PLATFORM_HOME": str(REPO),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_PROXY": "*",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    env["DUCKDB_PATH"] = str(Path(env["DUCKDB_PATH"]).resolve())
    env.update(alert_connections(env))
    home.mkdir(parents=True, exist_ok=True)
    return env


def api_port(env: dict[str, str]) -> str:
    """The port of the local Airflow API server (``AIRFLOW__API__PORT``, which
    :func:`airflow_env` sets from ``AIRFLOW_PORT``)."""
    return env.get("AIRFLOW__API__PORT") or str(current(env).get("AIRFLOW_PORT"))


def airflow(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the ``airflow`` CLI with ``env``; a failure raises with its output."""
    done = subprocess.run(
        [AIRFLOW_BIN, *args], env=env, capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(
            f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}"
            f"\n{done.stderr[-3000:]}"
        )
    return done


def setup(env: dict[str, str]) -> None:
    """Migrate the metadata database and create the warehouse pool (idempotent)."""
    sys.path.insert(0, str(DAGS))
    from pipeline import WAREHOUSE_POOL, pool_slots

    target = current(env).target
    airflow(env, "db", "migrate")
    airflow(
        env,
        "pools",
        "set",
        WAREHOUSE_POOL,
        str(pool_slots(target)),
        f"tasks that write to the {target} warehouse (DuckDB allows one writer)",
    )
