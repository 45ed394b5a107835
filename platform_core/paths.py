"""Where things are: the repository, the dbt project and the defaults of the local files, each
overridable from the environment."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DBT_PROJECT = REPO / "dbt_project"


def local_dir() -> Path:
    """Local state (warehouse, Airflow home, PII key, MLflow, alerts): ``$PLATFORM_LOCAL_DIR``,
    else ``.local`` in the repository."""
    return Path(os.environ.get("PLATFORM_LOCAL_DIR") or REPO / ".local").resolve()


def landing_dir() -> Path:
    return Path(os.environ.get("LANDING_DIR") or REPO / "data" / "landing")


def duckdb_path() -> Path:
    return Path(os.environ.get("DUCKDB_PATH") or REPO / ".local" / "warehouse.duckdb").resolve()


def manifest_path() -> Path:
    """Where ``dbt parse`` writes the manifest the transform DAG renders from."""
    default = DBT_PROJECT / "target" / "manifest.json"
    return Path(os.environ.get("DBT_MANIFEST_PATH") or default).resolve()
