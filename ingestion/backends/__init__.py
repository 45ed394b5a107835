"""Warehouse backends behind one interface (``base.Backend``); engines import lazily."""

from __future__ import annotations

from ..config import Settings
from .base import AuditRow, Backend


def get_backend(settings: Settings) -> Backend:
    """The backend ``WAREHOUSE_TARGET`` names, connected with settings from the environment."""
    if settings.target == "duckdb":
        from .duckdb import DuckDBBackend

        return DuckDBBackend(settings.duckdb_path, settings.schema)
    if settings.target == "postgres":
        from .postgres import PostgresBackend

        return PostgresBackend(settings.schema, PostgresBackend.conninfo(settings.env))
    if settings.target == "spark":
        from .spark import SparkBackend

        return SparkBackend(settings.schema)
    if settings.target == "snowflake":
        from .snowflake import SnowflakeBackend

        return SnowflakeBackend.from_env(settings.env, settings.schema)
    if settings.target == "databricks":
        from .databricks import DatabricksBackend

        return DatabricksBackend.from_env(settings.env, settings.schema)
    if settings.target == "bigquery":
        from .bigquery import BigQueryBackend

        return BigQueryBackend.from_env(settings.env, settings.schema)
    raise ValueError(f"unknown warehouse target {settings.target!r}")


__all__ = ["AuditRow", "Backend", "get_backend"]
