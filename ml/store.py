"""Appending to the ML result tables when an older table lacks a newer column.

``ml.feature_drift`` and ``ml.demand_forecast`` grow by appending; a warehouse written by an
earlier version of this package may miss a column added since. :func:`append` adds the missing
columns (nullable: the older rows have no value for them) before writing, so an upgrade keeps the
history instead of failing on the first write.
"""

from __future__ import annotations

import re

import pandas as pd

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TYPES = {"i": "bigint", "u": "bigint", "f": "double precision", "b": "boolean", "M": "timestamp"}


def sql_type(series: pd.Series) -> str:
    """The column type a frame column gets (the same names on DuckDB and PostgreSQL)."""
    return _TYPES.get(series.dtype.kind, "text")


def columns(wh, schema: str, table: str) -> set[str]:
    """The column names of ``schema.table`` (empty when it does not exist)."""
    for name in (schema, table):
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a plain SQL identifier (letters, digits, underscore)"
            )
    return set(wh.columns(schema, table))


def append(wh, df: pd.DataFrame, schema: str, table: str, **write_options) -> int:
    """``wh.write`` after adding the columns of ``df`` that ``schema.table`` does not have."""
    for name in (schema, table, *map(str, df.columns)):
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a plain SQL identifier (letters, digits, underscore)"
            )
    have = columns(wh, schema, table)
    if have:
        for column in df.columns:
            if column not in have:
                wh.execute(
                    f"alter table {schema}.{table} add column {column} {sql_type(df[column])}"
                )
    return wh.write(df, schema, table, **write_options)
