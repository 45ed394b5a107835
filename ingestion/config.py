"""Ingestion settings, from :mod:`platform_core.settings` (where every variable, its default and
its meaning are listed; README "Settings"): ``WAREHOUSE_TARGET``, ``DUCKDB_PATH``, ``LANDING_DIR``,
``BRONZE_SCHEMA``, ``INGEST_REQUIRE_MANIFEST``, ``INGEST_MAX_COLUMNS``, the libpq ``PG*``
variables, ``SNOWFLAKE_*``, ``DATABRICKS_*``, ``DUCKDB_LOCK_TIMEOUT`` and the local ``SPARK_*``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from platform_core.settings import REPO, TARGETS, current

__all__ = ["ROOT", "TARGETS", "Settings"]

ROOT = REPO
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True)
class Settings:
    target: str
    duckdb_path: Path
    landing: Path
    schema: str
    require_manifest: bool
    max_columns: int
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        env = dict(os.environ if environ is None else environ)
        platform = current(env)
        schema = platform.get("BRONZE_SCHEMA")
        if not _IDENT.fullmatch(schema):
            raise ValueError(
                f"BRONZE_SCHEMA={schema!r} is not a plain identifier "
                "(letters, digits and _, not starting with a digit)"
            )
        max_columns = platform.get("INGEST_MAX_COLUMNS")
        if max_columns < 1:
            raise ValueError(f"INGEST_MAX_COLUMNS={max_columns} must be at least 1")
        values = {
            "target": platform.target,
            "duckdb_path": platform.duckdb_path,
            "landing": platform.landing_dir,
            "schema": schema,
            "require_manifest": platform.get("INGEST_REQUIRE_MANIFEST"),
            "max_columns": max_columns,
            "env": env,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def duckdb_config(self) -> dict[str, str]:
        """DuckDB's memory limit, threads and spill folder (platform_core.settings), the spill
        folder beside this file unless DUCKDB_TEMP_DIRECTORY says otherwise."""
        return current({**self.env, "DUCKDB_PATH": str(self.duckdb_path)}).duckdb_config
