"""Every setting of the platform, in one table, read from the environment in one place.

``VARIABLES`` lists each environment variable the platform reads: its default, its kind and what
it means. ``.env.example`` and the README's settings table are generated from it
(``python -m platform_core.settings write``; ``tests/test_settings.py`` keeps them equal, and
checks that every variable the code reads is listed here). ``current()`` is the frozen, typed
view of the environment: a value is checked once, against its kind, when it is first read, and a
wrong one is a one-line error naming the variable and what it accepts.

Defaults that are paths (the warehouse file, the landing zone, the local state folder, the dbt
manifest) are computed here only; the packages ask ``current()`` (or :mod:`platform_core.paths`,
which asks it). dbt gets what it needs through :func:`platform_core.dbt_runner.dbt_env`, which
exports ``WAREHOUSE_TARGET`` and the absolute ``DUCKDB_PATH`` from here.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("duckdb", "postgres", "spark", "snowflake", "databricks", "bigquery")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    intro: str = ""


@dataclass(frozen=True)
class Var:
    """One environment variable. ``default`` is the value used when it is unset or empty (as
    text; ``None``: computed or none, see ``shown``); ``example`` is what ``.env.example``
    writes (``None``: the default); ``internal``: set by the platform itself or for tests, so
    it is documented in the README but left out of ``.env.example``."""

    name: str
    section: str
    doc: str
    default: str | None = None
    kind: str = "str"
    shown: str | None = None
    example: str | None = None
    choices: tuple[str, ...] = ()
    internal: bool = False

    @property
    def shown_default(self) -> str:
        if self.shown is not None:
            return self.shown
        return self.default if self.default not in (None, "") else "(none)"


SECTIONS = (
    Section(
        "warehouse",
        "Warehouse",
        "One switch picks the engine for ingestion, dbt, quality and ML alike.",
    ),
    Section("postgres", "PostgreSQL", "The standard libpq variables; the pipeline runs as PGUSER."),
    Section(
        "roles",
        "PostgreSQL roles",
        "Made by `python -m ingestion roles` (run it as a superuser): the reader BI connects as "
        "(dbt grants it SELECT on the marts, metrics and ML marts only) and the pipeline (no "
        "superuser; loads, builds and owns the warehouse's schemas: set PGUSER to it once made). "
        "Lower-case names. A role whose password is empty cannot log in (NOLOGIN).",
    ),
    Section("pii", "Personal data"),
    Section("snowflake", "Snowflake"),
    Section("databricks", "Databricks"),
    Section(
        "bigquery",
        "BigQuery",
        "Credentials: empty BIGQUERY_KEYFILE means Application Default Credentials (`gcloud auth "
        "application-default login`); else the path of a service-account JSON key (for dbt also "
        "set BIGQUERY_METHOD=service-account).",
    ),
    Section(
        "ingestion",
        "Loading (ingestion)",
        "Read by the packages wherever they run (make run, make airflow, the CLIs, the compose "
        "stack). An empty value means the default.",
    ),
    Section("spark", "Local Spark"),
    Section("pipeline", "Pipeline and DAGs", "make run passes START, DAYS, SCALE, SEED itself."),
    Section("quality", "Quality and alert links"),
    Section("alerts", "Alert channels", "Empty: that channel is off."),
    Section("ml", "Machine learning"),
    Section(
        "api",
        "Metrics API (make serve)",
        "On PostgreSQL it logs in as WAREHOUSE_READER_ROLE with WAREHOUSE_READER_PASSWORD.",
    ),
    Section("bi", "BI (docs/bi.md)"),
    Section(
        "compose",
        "Docker compose",
        "Read by docker-compose.yml (`docker compose up`), as are PGUSER, PGPASSWORD (required), "
        "PGDATABASE and PGPORT: the stack's warehouse, published on 127.0.0.1:PGPORT. Inside the "
        "stack WAREHOUSE_TARGET is postgres. Give each required password its own random value, "
        'e.g. python3 -c "import secrets; print(secrets.token_hex(24))" (letters and digits: '
        "they go into connection URLs). The Airflow secrets may stay empty: the stack makes them "
        "on first start (docker/airflow/stack_secrets.py); set them to choose or rotate them.",
    ),
    Section("internal", "Set by the platform itself (and by tests)"),
)

_V = Var
VARIABLES: tuple[Var, ...] = (
    # --------------------------------------------------------------- warehouse
    _V("WAREHOUSE_TARGET", "warehouse", "the engine", "duckdb", "choice", choices=TARGETS),
    _V(
        "DUCKDB_PATH",
        "warehouse",
        "the DuckDB warehouse file",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/warehouse.duckdb",
        example=".local/warehouse.duckdb",
    ),
    _V(
        "DUCKDB_MEMORY_LIMIT",
        "warehouse",
        "DuckDB's memory limit for the loader, dbt, quality and ML (e.g. 8GB, or a share of "
        "RAM such as 50%); beyond it DuckDB spills to DUCKDB_TEMP_DIRECTORY",
        "80%",
    ),
    _V(
        "DUCKDB_THREADS",
        "warehouse",
        "DuckDB's worker threads (fewer threads: less memory held at once)",
        kind="int",
        shown="the machine's cores",
    ),
    _V(
        "DUCKDB_TEMP_DIRECTORY",
        "warehouse",
        "where DuckDB spills what does not fit in DUCKDB_MEMORY_LIMIT",
        kind="path",
        shown="<DUCKDB_PATH>.tmp",
    ),
    _V(
        "PLATFORM_LOCAL_DIR",
        "warehouse",
        "local state: warehouse, Airflow home, PII key, MLflow, alerts",
        kind="path",
        shown="<repo>/.local",
    ),
    _V(
        "PLATFORM_HOME",
        "warehouse",
        "the repository the DAG files run from",
        kind="path",
        shown="this checkout",
    ),
    # --------------------------------------------------------------- postgres
    _V("PGHOST", "postgres", "PostgreSQL host", "127.0.0.1"),
    _V("PGPORT", "postgres", "PostgreSQL port", "5432", "port"),
    _V("PGUSER", "postgres", "the login the pipeline runs as", "postgres"),
    _V("PGPASSWORD", "postgres", "its password", "", "secret"),
    _V("PGDATABASE", "postgres", "the warehouse database", "analytics"),
    _V("PGSSLMODE", "postgres", "libpq's SSL mode", "prefer", example=""),
    # --------------------------------------------------------------- roles
    _V(
        "WAREHOUSE_READER_ROLE",
        "roles",
        "the read-only role BI and the metrics API use",
        "analytics_reader",
    ),
    _V("WAREHOUSE_READER_PASSWORD", "roles", "its password", "", "secret"),
    _V("WAREHOUSE_PIPELINE_ROLE", "roles", "the role the pipeline loads and builds as", "pipeline"),
    _V(
        "WAREHOUSE_PIPELINE_PASSWORD",
        "roles",
        "its password (required by the compose stack, "
        "whose services reach the warehouse as this role)",
        "",
        "secret",
    ),
    # --------------------------------------------------------------- pii
    _V(
        "PII_HASH_KEY",
        "pii",
        "the secret key personal data is hashed under in staging (HMAC-SHA256), 64 hex "
        'characters: python3 -c "import secrets; print(secrets.token_hex(32))". Empty: make run '
        "makes one in .local/pii_hash_key, the compose stack in its airflow-home volume. Keep it "
        "and back it up: a new key changes every hash (rotation: README, Security)",
        "",
        "secret",
        shown="<PLATFORM_LOCAL_DIR>/pii_hash_key",
    ),
    # --------------------------------------------------------------- snowflake
    *(
        _V(f"SNOWFLAKE_{part}", "snowflake", f"Snowflake {part.lower()}", "", kind)
        for part, kind in (
            ("ACCOUNT", "str"),
            ("USER", "str"),
            ("PASSWORD", "secret"),
            ("ROLE", "str"),
            ("WAREHOUSE", "str"),
            ("DATABASE", "str"),
        )
    ),
    _V(
        "SNOWFLAKE_SCHEMA",
        "snowflake",
        "Snowflake schema of the dbt models",
        "analytics",
        example="",
    ),
    # --------------------------------------------------------------- databricks
    _V("DATABRICKS_HOST", "databricks", "workspace host", ""),
    _V("DATABRICKS_HTTP_PATH", "databricks", "SQL warehouse HTTP path", ""),
    _V("DATABRICKS_TOKEN", "databricks", "personal access token", "", "secret"),
    _V("DATABRICKS_CATALOG", "databricks", "Unity Catalog catalog", "main", example=""),
    _V("DATABRICKS_SCHEMA", "databricks", "schema of the dbt models", "", shown="analytics"),
    _V(
        "DATABRICKS_VOLUME",
        "databricks",
        "volume (in the bronze schema) where loads stage their Parquet files",
        "",
        shown="ingest_staging",
    ),
    # --------------------------------------------------------------- bigquery
    _V(
        "BIGQUERY_PROJECT",
        "bigquery",
        "the project holding the datasets (bronze is "
        "BRONZE_SCHEMA; dbt builds in BIGQUERY_DATASET and the layer datasets)",
        "",
    ),
    _V(
        "BIGQUERY_LOCATION",
        "bigquery",
        "where jobs run and datasets are made (e.g. EU)",
        "",
        shown="US for dbt; BigQuery's default for loads",
    ),
    _V("BIGQUERY_DATASET", "bigquery", "dataset of the dbt models", "analytics", example=""),
    _V(
        "BIGQUERY_KEYFILE",
        "bigquery",
        "a service-account JSON key (empty: Application Default Credentials)",
        kind="path",
    ),
    _V(
        "BIGQUERY_METHOD",
        "bigquery",
        "dbt's auth method",
        "oauth",
        "choice",
        choices=("oauth", "service-account", "oauth-secrets"),
        example="",
    ),
    _V(
        "BIGQUERY_TOKEN",
        "bigquery",
        "an access token, with BIGQUERY_METHOD=oauth-secrets",
        "",
        "secret",
    ),
    _V(
        "BIGQUERY_API_ENDPOINT",
        "bigquery",
        "dbt only: a private endpoint",
        kind="url",
        shown="https://bigquery.googleapis.com",
    ),
    # --------------------------------------------------------------- ingestion
    _V(
        "LANDING_DIR",
        "ingestion",
        "where the landing CSVs are",
        kind="path",
        shown="<repo>/data/landing",
    ),
    _V(
        "BRONZE_SCHEMA",
        "ingestion",
        "schema of the bronze tables; dbt's sources read it too (letters, digits, _)",
        "bronze",
    ),
    _V(
        "INGEST_REQUIRE_MANIFEST",
        "ingestion",
        "load a file only when its day's readiness "
        "manifest lists it (false: producers that rename whole files)",
        "true",
        "bool",
    ),
    _V(
        "INGEST_MAX_COLUMNS",
        "ingestion",
        "a header with more fields fails the file before any parsing",
        "200",
        "int",
    ),
    _V(
        "INGEST_DEBUG",
        "ingestion",
        "1: python -m ingestion prints the traceback behind its one-line error",
        "0",
        "bool",
    ),
    _V(
        "DUCKDB_LOCK_TIMEOUT",
        "ingestion",
        "seconds the loader and the quality/ML readers wait "
        "for a DuckDB file another process writes",
        "120",
        "int",
    ),
    # --------------------------------------------------------------- spark
    _V(
        "SPARK_LOCK_TIMEOUT",
        "spark",
        "seconds to wait for the local Spark metastore's lock (one Spark process at a time)",
        "300",
        "int",
    ),
    _V(
        "SPARK_WAREHOUSE_DIR",
        "spark",
        "local Spark tables (set it absolute to run dbt from elsewhere)",
        kind="path",
        shown="<repo>/.local/spark/warehouse",
        example="",
    ),
    _V(
        "SPARK_METASTORE_DIR",
        "spark",
        "local Spark's Derby metastore",
        kind="path",
        shown="<repo>/.local/spark/metastore",
        example="",
    ),
    _V("SPARK_MASTER", "spark", "local Spark master", "local[2]"),
    _V("SPARK_SHUFFLE_PARTITIONS", "spark", "local Spark shuffle partitions", "4", "int"),
    _V(
        "SPARK_LOAD_BATCH_FILES",
        "spark",
        "landing files of one table the Spark loader writes in one commit",
        "500",
        "int",
    ),
    # --------------------------------------------------------------- pipeline
    _V(
        "PIPELINE_START",
        "pipeline",
        "first day of the synthetic company; ingest_daily's start date",
        "2026-01-01",
        "date",
    ),
    _V(
        "GENERATOR_SCALE",
        "pipeline",
        "generator volume multiplier used by ingest_daily",
        "0.2",
        "float",
    ),
    _V("GENERATOR_SEED", "pipeline", "generator seed used by ingest_daily", "42", "int"),
    _V(
        "INGEST_SCHEDULE",
        "pipeline",
        "ingest_daily's schedule: a cron or preset, or none (only triggered or backfilled runs)",
        "@daily",
    ),
    _V(
        "INGEST_CATCHUP",
        "pipeline",
        "true: the scheduler catches up ingest_daily from PIPELINE_START",
        "false",
        "bool",
    ),
    _V(
        "INGEST_CATCHUP_DAYS",
        "pipeline",
        "make airflow resumes at most this many days before today",
        "31",
        "int",
        example="",
    ),
    _V(
        "TRANSFORM_SELECT",
        "pipeline",
        "dbt selection the transform DAG renders and builds (empty: the whole default selection)",
        "",
    ),
    _V(
        "DBT_MANIFEST_PATH",
        "pipeline",
        "the manifest the transform DAG is rendered from",
        kind="path",
        shown="dbt_project/target/manifest.json",
    ),
    _V(
        "DBT_DATA_TESTS_SCOPE",
        "pipeline",
        "how much dbt tests re-check on incremental models: recent (daily builds) or all",
        "recent",
        "choice",
        choices=("recent", "all"),
    ),
    _V(
        "AIRFLOW_PORT",
        "pipeline",
        "where make airflow's UI listens (127.0.0.1), and the compose "
        "stack's published Airflow port",
        "8080",
        "port",
    ),
    # --------------------------------------------------------------- quality
    _V(
        "ALERT_SUPPRESS_MINUTES",
        "quality",
        "repeats of one alert within this many minutes are not sent again (0: off)",
        "60",
        "int",
    ),
    _V(
        "ALERT_STATE_PATH",
        "quality",
        "the SQLite file remembering which alert was sent when",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/alerts/state.sqlite",
    ),
    _V(
        "QUALITY_CONFIG",
        "quality",
        "the quality configuration",
        kind="path",
        shown="quality/config.yml",
    ),
    _V(
        "QUALITY_GX_ROOT",
        "quality",
        "the directory holding the GX project gx/",
        kind="path",
        shown="quality/",
    ),
    _V(
        "QUALITY_DATA_DOCS_DIR",
        "quality",
        "where Data Docs are written",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/quality/data_docs",
    ),
    _V(
        "QUALITY_DBT_TARGET",
        "quality",
        "dbt target directory whose run_results.json is alerted on",
        kind="path",
        shown="beside DBT_MANIFEST_PATH",
    ),
    _V("DOCS_HOST", "quality", "where make docs listens", "127.0.0.1"),
    _V("DOCS_PORT", "quality", "make docs' port for the dbt docs and Data Docs", "8090", "port"),
    _V(
        "DOCS_DBT_DIR",
        "quality",
        "where make docs writes the dbt docs site",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/docs/dbt",
        example="",
    ),
    _V("MLFLOW_UI_PORT", "quality", "make docs' port for the MLflow UI", "8091", "port"),
    _V(
        "DOCS_BASE_URL",
        "quality",
        "the address people reach make docs at, for alert links",
        kind="url",
        shown="http://DOCS_HOST:DOCS_PORT",
    ),
    _V(
        "MLFLOW_UI_URL",
        "quality",
        "the MLflow UI, for ML alert links",
        kind="url",
        shown="http://DOCS_HOST:MLFLOW_UI_PORT",
    ),
    _V(
        "QUALITY_DATA_DOCS_BASE_URL",
        "quality",
        "the Data Docs when hosted elsewhere",
        kind="url",
        shown="DOCS_BASE_URL/data-docs",
    ),
    _V(
        "DBT_DOCS_URL",
        "quality",
        "the dbt docs when hosted elsewhere",
        kind="url",
        shown="DOCS_BASE_URL/dbt",
    ),
    _V(
        "METRICS_API_URL",
        "quality",
        "the metrics API (make serve), for the series links of anomaly alerts",
        kind="url",
        shown="http://API_HOST:API_PORT",
    ),
    _V(
        "AIRFLOW_BASE_URL",
        "quality",
        "the Airflow UI, for task-failure links",
        kind="url",
        shown="AIRFLOW__API__BASE_URL, which make airflow sets; else no link",
    ),
    _V(
        "CHROMIUM",
        "quality",
        "headless Chromium for make data-docs' screenshot",
        shown="chromium on PATH",
    ),
    # --------------------------------------------------------------- alerts
    _V("SLACK_WEBHOOK_URL", "alerts", "a Slack incoming-webhook URL", "", "secret"),
    _V(
        "SMTP_HOST",
        "alerts",
        "mail server (in the compose stack, empty: the mail catcher mailpit:1025)",
        "",
    ),
    _V("SMTP_PORT", "alerts", "mail server port", "25", "port", example=""),
    _V("SMTP_USER", "alerts", "mail login", ""),
    _V("SMTP_PASSWORD", "alerts", "its password", "", "secret"),
    _V("SMTP_FROM", "alerts", "sender address", ""),
    _V("SMTP_TO", "alerts", "recipients, comma-separated", ""),
    _V("SMTP_STARTTLS", "alerts", "STARTTLS upgrade (port 587)", "false", "bool"),
    _V("SMTP_SSL", "alerts", "TLS from the start (port 465)", "false", "bool"),
    # --------------------------------------------------------------- ml
    _V(
        "MLFLOW_TRACKING_URI",
        "ml",
        "MLflow's tracking store",
        kind="url",
        shown="SQLite under <PLATFORM_LOCAL_DIR>/mlflow",
    ),
    _V(
        "MLFLOW_ARTIFACT_LOCATION",
        "ml",
        "MLflow's artifact root",
        shown="<PLATFORM_LOCAL_DIR>/mlflow/artifacts",
    ),
    _V(
        "ML_MIN_AUC",
        "ml",
        "a delivery-delay version needs at least this holdout ROC AUC to be promoted",
        "0.6",
        "float",
    ),
    _V(
        "ML_MIN_IMPROVEMENT",
        "ml",
        "how much better than the champion a version must be to replace it (0: strictly better)",
        "0",
        "float",
    ),
    _V(
        "ML_LABEL_GRACE_DAYS",
        "ml",
        "days past its promised date before a shipment's outcome counts as known",
        "1",
        "float",
    ),
    _V(
        "ML_TRAIN_MAX_ROWS",
        "ml",
        "most shipments the delivery-delay model reads to train, evaluate and promote (and its "
        "drift check from the training window): a deterministic sample, every k-th shipment id",
        "1000000",
        "int",
    ),
    _V(
        "ML_DRIFT_MIN_COUNT",
        "ml",
        "categories seen fewer times in training are pooled in the drift check",
        "30",
        "int",
    ),
    *(
        _V(f"ML_DRIFT_LIMIT_{part}", "ml", doc, kind="float", shown="ml/config.py")
        for part, doc in (
            ("CATEGORY", "PSI limit of a categorical feature"),
            ("NUMERIC", "PSI limit of a numeric feature"),
            ("WEATHER", "PSI limit of a weather feature"),
            ("BIAS", "limit of the demand forecast's bias change"),
            ("ERROR", "limit of the demand forecast's WAPE change"),
        )
    ),
    _V(
        "ML_DBT_TARGET",
        "ml",
        "dbt target folders (separated by :) looked at first for the "
        "manifest a training run records",
        "",
    ),
    # --------------------------------------------------------------- api
    _V(
        "REDIS_URL",
        "api",
        "the shared answer cache, e.g. redis://127.0.0.1:6379/0 (empty: an in-process cache)",
        "",
        "url",
    ),
    _V("API_HOST", "api", "where make serve listens", "127.0.0.1"),
    _V("API_PORT", "api", "make serve's port", "8070", "port"),
    _V("API_CACHE_TTL", "api", "seconds a cached answer lives at most", "3600", "int"),
    _V("API_CACHE_ENTRIES", "api", "answers the in-process cache keeps", "512", "int"),
    _V("API_STATEMENT_TIMEOUT", "api", "seconds one warehouse query may run", "10", "float"),
    _V("API_MAX_ROWS", "api", "rows one answer may hold", "5000", "int"),
    _V("API_MAX_BODY_BYTES", "api", "largest request body in bytes", "16384", "int"),
    _V(
        "API_TODAY",
        "api",
        "the day 'today' means in questions, YYYY-MM-DD",
        kind="date",
        shown="the last day with data",
    ),
    _V(
        "MARTS_BUILD_FILE",
        "api",
        "the build id the transform DAG publishes",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/marts_build.json",
    ),
    _V(
        "API_STATE_DIR",
        "api",
        "where the API keeps its parsed dbt project",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/metrics_api",
    ),
    _V(
        "SEMANTIC_MANIFEST",
        "api",
        "a semantic manifest to use instead",
        kind="path",
        shown="(parsed from dbt_project)",
    ),
    # --------------------------------------------------------------- bi
    _V("TABLEAU_SERVER_URL", "bi", "python -m bi publish: Tableau Server/Cloud URL", "", "url"),
    _V(
        "TABLEAU_SITE",
        "bi",
        "the site's content URL (empty: the default site of a Tableau Server)",
        "",
    ),
    _V("TABLEAU_TOKEN_NAME", "bi", "a personal access token's name", ""),
    _V("TABLEAU_TOKEN", "bi", "its secret", "", "secret"),
    _V("TABLEAU_PROJECT", "bi", "the project data sources are published to", "default"),
    _V(
        "TABLEAU_URL_BASE",
        "bi",
        "the dashboards' links in the dbt exposures: the site's views "
        "root, e.g. https://tableau.example.com/#/site/analytics",
        "",
        "url",
    ),
    _V("BI_ANALYTICS_OWNER_EMAIL", "bi", "owner address of the analytics dashboards", ""),
    _V("BI_OPERATIONS_OWNER_EMAIL", "bi", "owner address of the operations dashboards", ""),
    _V(
        "BI_EXTRACTS_DIR",
        "bi",
        "where the Tableau .hyper extracts and extracts.json go",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/bi/extracts",
    ),
    _V(
        "BI_REPORTS_DIR",
        "bi",
        "where the Excel weekly reviews go",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/bi/reports",
        example="",
    ),
    _V(
        "BI_DEBUG",
        "bi",
        "1: python -m bi prints the traceback behind its one-line error",
        "0",
        "bool",
        example="",
    ),
    # --------------------------------------------------------------- compose
    _V(
        "AIRFLOW_UID",
        "compose",
        "your uid on Linux (`id -u`), so what the containers write into the repository stays yours",
        "50000",
    ),
    _V("AIRFLOW_DB_PASSWORD", "compose", "required: the airflow database login", "", "secret"),
    _V("MLFLOW_DB_PASSWORD", "compose", "required: the mlflow database login", "", "secret"),
    _V(
        "AIRFLOW_ADMIN_PASSWORD",
        "compose",
        "password of the Airflow UI login admin; empty: made "
        "on first start and printed once in `docker compose logs airflow-init`",
        "",
        "secret",
    ),
    _V(
        "AIRFLOW_JWT_SECRET",
        "compose",
        "signs the tokens Airflow's components and tasks exchange",
        "",
        "secret",
    ),
    _V("AIRFLOW_API_SECRET_KEY", "compose", "signs the API server's sessions", "", "secret"),
    _V(
        "AIRFLOW_FERNET_KEY",
        "compose",
        "encrypts connections and variables saved in Airflow's database",
        "",
        "secret",
    ),
    _V("MLFLOW_PORT", "compose", "host port of MLflow (127.0.0.1)", "5000", "port"),
    _V("MAILPIT_UI_PORT", "compose", "host port of the mail catcher's UI", "8025", "port"),
    _V("MAILPIT_SMTP_PORT", "compose", "host port of the mail catcher's SMTP", "1025", "port"),
    _V("METRICS_API_PORT", "compose", "host port of the metrics API and live page", "8070", "port"),
    # --------------------------------------------------------------- internal
    _V(
        "AIRFLOW_HOME",
        "internal",
        "the local Airflow home (make run, make airflow)",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/airflow",
        internal=True,
    ),
    _V(
        "INGEST_START",
        "internal",
        "first day the scheduler runs ingest_daily for (set by make airflow's resume)",
        kind="date",
        shown="PIPELINE_START",
        internal=True,
    ),
    _V(
        "INGEST_END",
        "internal",
        "last day the scheduler runs ingest_daily for (set by make airflow's resume)",
        kind="date",
        internal=True,
    ),
    _V(
        "DBT_LOG_PATH",
        "internal",
        "where dbt writes its log (set by the make run console)",
        kind="path",
        internal=True,
    ),
    _V(
        "DBT_LOG_FORMAT_FILE",
        "internal",
        "dbt's log file format (set by the make run console)",
        internal=True,
    ),
    _V(
        "GX_ANALYTICS_ENABLED",
        "internal",
        "GX usage statistics (always off here)",
        "false",
        "bool",
        internal=True,
    ),
    _V("SPARK_LOCAL_IP", "internal", "the address local Spark binds", "127.0.0.1", internal=True),
    _V(
        "BENCH_DIR",
        "internal",
        "where make bench keeps its data",
        kind="path",
        shown="<PLATFORM_LOCAL_DIR>/bench",
        internal=True,
    ),
    _V(
        "API_BENCH_DUCKDB",
        "internal",
        "the warehouse make bench's API rows read",
        kind="path",
        internal=True,
    ),
    _V(
        "API_BENCH_MANIFEST",
        "internal",
        "the semantic manifest make bench's API rows read",
        kind="path",
        internal=True,
    ),
    _V(
        "STACK_SECRETS_DIR",
        "internal",
        "where the compose stack keeps the secrets it made on first start (docker-compose.yml)",
        kind="path",
        internal=True,
    ),
    _V(
        "INGESTION_FAILPOINT",
        "internal",
        "tests only: the loader stops at this step",
        "",
        internal=True,
    ),
)

BY_NAME: dict[str, Var] = {v.name: v for v in VARIABLES}


_MEMORY = re.compile(r"\d+(\.\d+)?\s*(%|[KMGT]i?B|bytes)", re.IGNORECASE)


class SettingError(ValueError):
    """A variable holds a value its kind does not accept (one line, naming the variable)."""


def _convert(var: Var, raw: str) -> Any:
    name, value = var.name, raw.strip()
    if var.kind == "bool":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise SettingError(f"{name}={value!r} is not a boolean; use one of true, false")
    if var.kind in ("int", "port"):
        try:
            number = int(value)
        except ValueError:
            what = "a TCP port (1-65535)" if var.kind == "port" else "a whole number"
            raise SettingError(f"{name}={value!r} is not {what}") from None
        if var.kind == "port" and not 0 < number < 65536:
            raise SettingError(f"{name}={value!r} is not a TCP port (1-65535)")
        if number < 0:
            raise SettingError(f"{name}={number} may not be negative")
        return number
    if var.kind == "float":
        try:
            return float(value)
        except ValueError:
            raise SettingError(f"{name}={value!r} is not a number") from None
    if var.kind == "date":
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise SettingError(f"{name}={value!r} is not a date (YYYY-MM-DD)") from None
    if var.kind == "choice":
        value = value.lower()
        if value not in var.choices:
            raise SettingError(
                f"{name}={value!r} is not supported; use one of {', '.join(var.choices)}"
            )
        return value
    if var.kind == "path":
        return Path(value).expanduser()
    return value


@dataclass(frozen=True)
class Settings:
    """The environment, read once: ``get(name)`` gives a registered variable's typed value (its
    default when unset or empty; ``None`` when it has none). The properties are the values
    whose defaults depend on others."""

    env: Mapping[str, str] = field(repr=False)

    def raw(self, name: str) -> str:
        if name not in BY_NAME:
            raise KeyError(f"{name} is not a platform setting (platform_core/settings.py)")
        return (self.env.get(name) or "").strip()

    def get(self, name: str) -> Any:
        value = self.raw(name) or (BY_NAME[name].default or "")
        return _convert(BY_NAME[name], value) if value else None

    # ---------------------------------------------------------------- derived paths
    @property
    def repo(self) -> Path:
        return (self.get("PLATFORM_HOME") or REPO).resolve()

    @property
    def local_dir(self) -> Path:
        return (self.get("PLATFORM_LOCAL_DIR") or REPO / ".local").resolve()

    @property
    def duckdb_path(self) -> Path:
        return (self.get("DUCKDB_PATH") or self.local_dir / "warehouse.duckdb").resolve()

    @property
    def duckdb_threads(self) -> int:
        threads = self.get("DUCKDB_THREADS")
        if threads == 0:
            raise SettingError("DUCKDB_THREADS=0: DuckDB needs at least 1 thread")
        return threads or os.cpu_count() or 1

    @property
    def duckdb_temp_directory(self) -> Path:
        default = self.duckdb_path.with_name(self.duckdb_path.name + ".tmp")
        return (self.get("DUCKDB_TEMP_DIRECTORY") or default).resolve()

    @property
    def duckdb_config(self) -> dict[str, str]:
        """The DuckDB resource settings every connection to the warehouse file opens with (dbt
        gets the same through :func:`platform_core.dbt_runner.dbt_env` and profiles.yml)."""
        limit = self.get("DUCKDB_MEMORY_LIMIT")
        if not _MEMORY.fullmatch(limit):
            raise SettingError(
                f"DUCKDB_MEMORY_LIMIT={limit!r} is not an amount of memory (e.g. 8GB, 512MiB, 50%)"
            )
        return {
            "memory_limit": limit.replace(" ", ""),
            "threads": str(self.duckdb_threads),
            "temp_directory": str(self.duckdb_temp_directory),
        }

    @property
    def landing_dir(self) -> Path:
        return self.get("LANDING_DIR") or REPO / "data" / "landing"

    @property
    def manifest_path(self) -> Path:
        default = REPO / "dbt_project" / "target" / "manifest.json"
        return (self.get("DBT_MANIFEST_PATH") or default).resolve()

    @property
    def airflow_home(self) -> Path:
        return (self.get("AIRFLOW_HOME") or self.local_dir / "airflow").resolve()

    @property
    def spark_warehouse_dir(self) -> Path:
        return self.get("SPARK_WAREHOUSE_DIR") or REPO / ".local" / "spark" / "warehouse"

    @property
    def spark_metastore_dir(self) -> Path:
        return self.get("SPARK_METASTORE_DIR") or REPO / ".local" / "spark" / "metastore"

    @property
    def target(self) -> str:
        return self.get("WAREHOUSE_TARGET")


@lru_cache(maxsize=8)
def _settings(snapshot: tuple[tuple[str, str], ...]) -> Settings:
    return Settings(env=dict(snapshot))


def current(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of ``environ`` (default: this process's environment). Read once per
    distinct environment: the same values give the same frozen object."""
    env = os.environ if environ is None else environ
    snapshot = tuple((v.name, env[v.name]) for v in VARIABLES if v.name in env)
    return _settings(snapshot)


# ------------------------------------------------------------------- generated files
ENV_EXAMPLE = REPO / ".env.example"
README = REPO / "README.md"
README_START = "<!-- settings:start (generated by python -m platform_core.settings write) -->"
README_END = "<!-- settings:end -->"


def _comment(text: str, width: int = 98) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent="# ", subsequent_indent="# ")


def env_example() -> str:
    """The text of ``.env.example``."""
    lines = [
        "# Generated from platform_core/settings.py (python -m platform_core.settings write):",
        "# edit the table there, not this file. Copy to .env (never committed) and fill in what",
        "# your warehouse needs. An empty value means the default, shown in each comment.",
    ]
    for section in SECTIONS:
        members = [v for v in VARIABLES if v.section == section.key and not v.internal]
        if not members:
            continue
        lines += ["", f"# {'-' * 20} {section.title}"]
        if section.intro:
            lines += _comment(section.intro)
        for var in members:
            doc = var.doc
            if var.choices:
                doc += f": {' | '.join(var.choices)}"
            lines += _comment(f"{doc} (default: {var.shown_default})")
            value = var.example if var.example is not None else (var.default or "")
            lines.append(f"{var.name}={value}")
    return "\n".join(lines) + "\n"


def readme_table() -> str:
    """The README's table of every setting, between its two markers."""
    rows = [README_START, "", "| variable | default | meaning |", "| --- | --- | --- |"]
    for section in SECTIONS:
        members = [v for v in VARIABLES if v.section == section.key]
        if not members:
            continue
        rows.append(f"| **{section.title}** | | |")
        for var in members:
            doc = var.doc.replace("|", "\\|")
            if var.choices:
                doc += f": {', '.join(var.choices)}"
            shown = var.shown_default.replace("|", "\\|")
            rows.append(f"| `{var.name}` | `{shown}` | {doc} |")
    rows += ["", README_END]
    return "\n".join(rows)


def readme_with_table(text: str) -> str:
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    return text[:start] + readme_table() + text[end:]


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"]:
        ENV_EXAMPLE.write_text(env_example())
        README.write_text(readme_with_table(README.read_text()))
        print(f"wrote {ENV_EXAMPLE.name} and the settings table of {README.name}")
        return 0
    if argv[:1] == ["check"]:
        for name in [n for n in BY_NAME if n in os.environ]:
            current().get(name)
        print("every setting in this environment is valid")
        return 0
    print("usage: python -m platform_core.settings write|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
