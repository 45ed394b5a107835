"""Ingestion settings: one place, read from the environment.

| variable | meaning | default |
| --- | --- | --- |
| ``WAREHOUSE_TARGET`` | ``duckdb``, ``postgres``, ``spark``, ``snowflake`` or ``databricks`` | ``duckdb`` |
| ``DUCKDB_PATH`` | the DuckDB warehouse file | ``<repo>/.local/warehouse.duckdb`` |
| ``LANDING_DIR`` | where the generator's daily CSVs are | ``<repo>/data/landing`` |
| ``PGHOST`` ``PGPORT`` ``PGUSER`` ``PGPASSWORD`` ``PGDATABASE`` | libpq settings | libpq's own |
| ``BRONZE_SCHEMA`` | schema of the bronze tables | ``bronze`` |
| ``SPARK_WAREHOUSE_DIR`` ``SPARK_METASTORE_DIR`` | local Spark session storage | ``.local/spark/`` |
| ``SNOWFLAKE_*`` | account, user, password, role, warehouse, database | none |
| ``DATABRICKS_*`` | host, HTTP path, token, catalog, volume for staging | none |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("duckdb", "postgres", "spark", "snowflake", "databricks")


@dataclass(frozen=True)
class Settings:
    target: str = "duckdb"
    duckdb_path: Path = ROOT / ".local" / "warehouse.duckdb"
    landing: Path = ROOT / "data" / "landing"
    schema: str = "bronze"
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        env = dict(os.environ if environ is None else environ)
        target = env.get("WAREHOUSE_TARGET", "duckdb").strip().lower() or "duckdb"
        if target not in TARGETS:
            raise ValueError(
                f"WAREHOUSE_TARGET={target!r} is not supported; use one of {', '.join(TARGETS)}"
            )
        values = {
            "target": target,
            "duckdb_path": Path(env.get("DUCKDB_PATH") or ROOT / ".local" / "warehouse.duckdb"),
            "landing": Path(env.get("LANDING_DIR") or ROOT / "data" / "landing"),
            "schema": env.get("BRONZE_SCHEMA", "bronze"),
            "env": env,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
