"""Ingestion settings: one place, read from the environment.

| variable | meaning | default |
| --- | --- | --- |
| ``WAREHOUSE_TARGET`` | ``duckdb``, ``postgres``, ``spark``, ``snowflake``, ``databricks`` or ``bigquery`` | ``duckdb`` |
| ``DUCKDB_PATH`` | the DuckDB warehouse file | ``<repo>/.local/warehouse.duckdb`` |
| ``LANDING_DIR`` | where the generator's daily CSVs are | ``<repo>/data/landing`` |
| ``PGHOST`` ``PGPORT`` ``PGUSER`` ``PGPASSWORD`` ``PGDATABASE`` | libpq settings | libpq's own |
| ``BRONZE_SCHEMA`` | schema of the bronze tables (letters, digits, ``_``) | ``bronze`` |
| ``INGEST_REQUIRE_MANIFEST`` | load a file only when the day's readiness manifest lists it | ``true`` |
| ``INGEST_MAX_COLUMNS`` | a header with more fields fails the file before parsing | ``200`` |
| ``DUCKDB_LOCK_TIMEOUT`` | seconds to wait for a DuckDB file another process holds | ``120`` |
| ``SPARK_LOCK_TIMEOUT`` | seconds to wait for the local Spark metastore | ``300`` |
| ``SPARK_WAREHOUSE_DIR`` ``SPARK_METASTORE_DIR`` | local Spark session storage | ``.local/spark/`` |
| ``SNOWFLAKE_*`` | account, user, password, role, warehouse, database | none |
| ``DATABRICKS_*`` | host, HTTP path, token, catalog, volume for staging | none |
| ``BIGQUERY_*`` | project, location, service-account key file (else default credentials) | none |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("duckdb", "postgres", "spark", "snowflake", "databricks", "bigquery")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not a boolean; use one of true, false")


def _int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a whole number") from None
    if number < minimum:
        raise ValueError(f"{name}={number} must be at least {minimum}")
    return number


@dataclass(frozen=True)
class Settings:
    target: str = "duckdb"
    duckdb_path: Path = ROOT / ".local" / "warehouse.duckdb"
    landing: Path = ROOT / "data" / "landing"
    schema: str = "bronze"
    require_manifest: bool = True
    max_columns: int = 200
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        env = dict(os.environ if environ is None else environ)
        target = env.get("WAREHOUSE_TARGET", "duckdb").strip().lower() or "duckdb"
        if target not in TARGETS:
            raise ValueError(
                f"WAREHOUSE_TARGET={target!r} is not supported; use one of {', '.join(TARGETS)}"
            )
        schema = env.get("BRONZE_SCHEMA", "bronze") or "bronze"
        if not _IDENT.fullmatch(schema):
            raise ValueError(
                f"BRONZE_SCHEMA={schema!r} is not a plain identifier "
                "(letters, digits and _, not starting with a digit)"
            )
        values = {
            "target": target,
            "duckdb_path": Path(env.get("DUCKDB_PATH") or ROOT / ".local" / "warehouse.duckdb"),
            "landing": Path(env.get("LANDING_DIR") or ROOT / "data" / "landing"),
            "schema": schema,
            "require_manifest": _flag(env, "INGEST_REQUIRE_MANIFEST", True),
            "max_columns": _int(env, "INGEST_MAX_COLUMNS", 200),
            "env": env,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
