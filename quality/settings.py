"""The quality package's defaults, in one place: ``quality/config.yml`` plus a few paths that the
environment may override.

| variable | meaning | default |
| --- | --- | --- |
| ``QUALITY_CONFIG`` | the YAML config (SLAs, anomaly settings, severities) | ``quality/config.yml`` |
| ``QUALITY_GX_ROOT`` | directory holding the file-mode GX project ``gx/`` | ``quality/`` |
| ``QUALITY_DATA_DOCS_DIR`` | where Data Docs HTML is written | ``<PLATFORM_LOCAL_DIR or .local>/quality/data_docs`` |
| ``QUALITY_DBT_TARGET`` | dbt target directory whose ``run_results.json`` is alerted on | the directory of ``DBT_MANIFEST_PATH``, else ``dbt_project/target/airflow`` or ``dbt_project/target`` |

Where people look, for ``make docs`` (:mod:`orchestration.docs`) and the links in alerts:

| variable | meaning | default |
| --- | --- | --- |
| ``DOCS_HOST`` ``DOCS_PORT`` | where ``make docs`` serves the dbt docs (``/dbt/``) and the Data Docs (``/data-docs/``) | ``127.0.0.1``, ``8090`` |
| ``MLFLOW_UI_PORT`` | where ``make docs`` serves the MLflow UI | ``8091`` |
| ``DOCS_BASE_URL`` | the address people reach ``make docs`` at, for alert links | ``http://DOCS_HOST:DOCS_PORT`` |
| ``MLFLOW_UI_URL`` | the MLflow UI, for ML alert links | ``http://DOCS_HOST:MLFLOW_UI_PORT`` |
| ``QUALITY_DATA_DOCS_BASE_URL`` | the Data Docs when served elsewhere (a bucket site) | ``DOCS_BASE_URL/data-docs`` |
| ``DBT_DOCS_URL`` | the dbt docs when served elsewhere | ``DOCS_BASE_URL/dbt`` |
| ``AIRFLOW_BASE_URL`` | the Airflow UI, for task-failure links | ``AIRFLOW__API__BASE_URL`` if set, else no link |

No link is ever a ``file://`` address (mail and chat clients do not open them), and no Airflow
link is made when no Airflow UI is configured (``make run`` runs none; ``make airflow`` sets
``AIRFLOW__API__BASE_URL``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config_model import QualityConfig

from platform_core.settings import current

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
os.environ.setdefault("GX_ANALYTICS_ENABLED", str(current().get("GX_ANALYTICS_ENABLED")).lower())


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("QUALITY_CONFIG") or PACKAGE / "config.yml")


@cache
def _load(path: str) -> QualityConfig:
    from .config_model import load

    return load(Path(path))


def config() -> QualityConfig:
    """``config.yml`` as typed, validated settings (:mod:`quality.config_model`), cached per
    path; a mistyped key or value raises ``ConfigError`` naming the file and the key path."""
    return _load(str(config_path()))


def gx_root() -> Path:
    return (current().get("QUALITY_GX_ROOT") or PACKAGE).resolve()


def data_docs_dir() -> Path:
    default = current().local_dir / "quality" / "data_docs"
    return (current().get("QUALITY_DATA_DOCS_DIR") or default).resolve()


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def docs_host() -> str:
    return current().get("DOCS_HOST")


def docs_port() -> int:
    return current().get("DOCS_PORT")


def mlflow_ui_port() -> int:
    return current().get("MLFLOW_UI_PORT")


def docs_base_url() -> str:
    """Where ``make docs`` is reached (``DOCS_BASE_URL``), without a trailing slash."""
    return _env("DOCS_BASE_URL", f"http://{docs_host()}:{docs_port()}").rstrip("/")


def metrics_api_url() -> str:
    """Where ``make serve`` (the metrics API) is reached (``METRICS_API_URL``): anomaly alerts
    link to a monitor's series there (``/anomalies?metric=...``)."""
    settings = current()
    default = f"http://{settings.get('API_HOST')}:{settings.get('API_PORT')}"
    return _env("METRICS_API_URL", default).rstrip("/")


def data_docs_url() -> str:
    """The Data Docs index: ``QUALITY_DATA_DOCS_BASE_URL``, else ``make docs``' ``/data-docs/``."""
    base = _env("QUALITY_DATA_DOCS_BASE_URL") or f"{docs_base_url()}/data-docs"
    return base.rstrip("/") + "/index.html"


def dbt_docs_url(unique_id: str | None = None) -> str:
    """The dbt docs (``DBT_DOCS_URL``, else ``make docs``' ``/dbt/``), at ``unique_id``'s page
    when it is a test."""
    base = _env("DBT_DOCS_URL", f"{docs_base_url()}/dbt").rstrip("/")
    if unique_id and unique_id.startswith("test."):
        return f"{base}/#!/test/{unique_id}"
    return base + "/"


def mlflow_ui_url() -> str:
    return _env("MLFLOW_UI_URL", f"http://{docs_host()}:{mlflow_ui_port()}").rstrip("/")


def airflow_base_url() -> str | None:
    """The Airflow UI for task links: ``AIRFLOW_BASE_URL``, else Airflow's own
    ``AIRFLOW__API__BASE_URL``; None when neither is set (no UI runs, no link)."""
    base = _env("AIRFLOW_BASE_URL") or _env("AIRFLOW__API__BASE_URL")
    return base.rstrip("/") or None
