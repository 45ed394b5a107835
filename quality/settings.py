"""The quality package's defaults, in one place: ``quality/config.yml`` plus a few paths that the
environment may override.

| variable | meaning | default |
| --- | --- | --- |
| ``QUALITY_CONFIG`` | the YAML config (SLAs, anomaly settings, severities) | ``quality/config.yml`` |
| ``QUALITY_GX_ROOT`` | directory holding the file-mode GX project ``gx/`` | ``quality/`` |
| ``QUALITY_DATA_DOCS_DIR`` | where Data Docs HTML is written | ``<PLATFORM_LOCAL_DIR or .local>/quality/data_docs`` |
| ``QUALITY_DATA_DOCS_BASE_URL`` | public URL of that directory, for alert links | ``file://`` URL |
| ``QUALITY_DBT_TARGET`` | dbt target directory whose ``run_results.json`` is alerted on | the directory of ``DBT_MANIFEST_PATH``, else ``dbt_project/target/airflow`` or ``dbt_project/target`` |
| ``DBT_DOCS_URL`` | where the dbt docs are served, for dbt test alert links | none (no link) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("QUALITY_CONFIG") or PACKAGE / "config.yml")


@cache
def _load(path: str) -> dict[str, Any]:
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as e:
        raise FileNotFoundError(f"quality config {path} not found: set QUALITY_CONFIG") from e


def config() -> dict[str, Any]:
    """The parsed ``config.yml`` (cached per path)."""
    return _load(str(config_path()))


def gx_root() -> Path:
    return Path(os.environ.get("QUALITY_GX_ROOT") or PACKAGE).resolve()


def data_docs_dir() -> Path:
    local = Path(os.environ.get("PLATFORM_LOCAL_DIR") or REPO / ".local")
    default = local / "quality" / "data_docs"
    return Path(os.environ.get("QUALITY_DATA_DOCS_DIR") or default).resolve()


def data_docs_url() -> str:
    base = os.environ.get("QUALITY_DATA_DOCS_BASE_URL")
    if base:
        return base.rstrip("/") + "/index.html"
    return (data_docs_dir() / "index.html").as_uri()


def dbt_docs_url(unique_id: str | None = None) -> str | None:
    """The dbt docs page of ``unique_id`` (a test) when ``DBT_DOCS_URL`` is set, else None."""
    base = os.environ.get("DBT_DOCS_URL", "").strip().rstrip("/")
    if not base:
        return None
    if unique_id and unique_id.startswith("test."):
        return f"{base}/#!/test/{unique_id}"
    return base
