"""Where things are: the repository, the dbt project and the local files, as the settings
(:mod:`platform_core.settings`, where every default is written) give them."""

from __future__ import annotations

from pathlib import Path

from .settings import REPO, current

DBT_PROJECT = REPO / "dbt_project"


def local_dir() -> Path:
    """Local state (warehouse, Airflow home, PII key, MLflow, alerts): ``$PLATFORM_LOCAL_DIR``,
    else ``.local`` in the repository."""
    return current().local_dir


def landing_dir() -> Path:
    return current().landing_dir


def duckdb_path() -> Path:
    """The DuckDB warehouse file, absolute: ``$DUCKDB_PATH``, else ``warehouse.duckdb`` in the
    local state folder."""
    return current().duckdb_path


def manifest_path() -> Path:
    """Where ``dbt parse`` writes the manifest the transform DAG renders from."""
    return current().manifest_path
