"""Read marts into pandas and write result tables back: one door to the warehouse for the
``quality`` and ``ml`` packages.

The engine is the one ``WAREHOUSE_TARGET`` names (see :mod:`ingestion.config`), with the same
connection settings as the loader and dbt: the DuckDB file of ``DUCKDB_PATH`` or the PostgreSQL
server of the ``PG*`` variables. Other engines raise a clear error (their result tables are
written by the engine's own tooling).

    with connect() as wh:
        df = wh.frame("select * from marts.fct_shipments")
        wh.write(scores, "ml", "delivery_risk_scores", replace_where=("scored_date", day))
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .config import Settings

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PG_TYPES = {
    "int64": "bigint",
    "Int64": "bigint",
    "int32": "integer",
    "float64": "double precision",
    "bool": "boolean",
    "boolean": "boolean",
    "datetime64[ns]": "timestamp",
    "datetime64[us]": "timestamp",
}


def _ident(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier (letters, digits, underscore)")
    return name


class Warehouse:
    """A connection to the warehouse with three verbs: ``frame``, ``execute``, ``write``."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self.target = self.settings.target
        if self.target == "duckdb":
            from .backends.duckdb import connect as connect_duckdb

            self.settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
            self._con = connect_duckdb(self.settings.duckdb_path)
        elif self.target == "postgres":
            from .backends.base import engine_module
            from .backends.postgres import PostgresBackend

            psycopg = engine_module("psycopg", "postgres", "psycopg")
            self._con = psycopg.connect(
                PostgresBackend.conninfo(self.settings.env), autocommit=True
            )
        else:
            raise NotImplementedError(
                f"reading and writing result tables is supported on duckdb and postgres, not on "
                f"WAREHOUSE_TARGET={self.target!r}"
            )

    # ------------------------------------------------------------------ reading
    def frame(self, sql: str, params: Mapping[str, Any] | list | None = None) -> pd.DataFrame:
        """The result of ``sql`` as a DataFrame (placeholders: ``$1``/``?`` on DuckDB,
        ``%s`` on PostgreSQL; prefer literals you built safely)."""
        if self.target == "duckdb":
            return self._con.execute(sql, params or []).df()
        with self._con.cursor() as cur:
            cur.execute(sql, params)
            columns = [c.name for c in cur.description or []]
            return pd.DataFrame(cur.fetchall(), columns=columns)

    def rows(self, sql: str) -> list[tuple]:
        if self.target == "duckdb":
            return self._con.execute(sql).fetchall()
        with self._con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []

    def execute(self, sql: str) -> None:
        if self.target == "duckdb":
            self._con.execute(sql)
        else:
            with self._con.cursor() as cur:
                cur.execute(sql)

    def table_exists(self, schema: str, table: str) -> bool:
        mark = "?" if self.target == "duckdb" else "%s"
        found = self.frame(
            "select count(*) as n from information_schema.tables "
            f"where table_schema = {mark} and table_name = {mark}",
            [schema, table],
        )
        return bool(len(found) and found.iloc[0, 0])

    # ------------------------------------------------------------------ writing
    def write(
        self,
        df: pd.DataFrame,
        schema: str,
        table: str,
        *,
        replace: bool = False,
        replace_where: tuple[str, Any] | None = None,
    ) -> int:
        """Append ``df`` to ``schema.table`` (created from the frame's columns if missing).

        ``replace`` drops the table first; ``replace_where=(column, value)`` deletes the rows
        with that value first, so writing the same day twice leaves one copy. Returns rows
        written. One transaction: readers see all of it or none.
        """
        schema, table = _ident(schema), _ident(table)
        for column in df.columns:
            _ident(str(column))
        qualified = f"{schema}.{table}"
        if self.target == "duckdb":
            return self._write_duckdb(df, qualified, schema, replace, replace_where)
        return self._write_postgres(df, qualified, schema, replace, replace_where)

    def _where(self, replace_where: tuple[str, Any]) -> tuple[str, list]:
        """``column = <bound value>``: the SQL and its parameter."""
        column, value = replace_where
        mark = "?" if self.target == "duckdb" else "%s"
        return f"{_ident(column)} = {mark}", [_plain(value)]

    def _write_duckdb(self, df, qualified, schema, replace, replace_where) -> int:
        con = self._con
        con.execute("begin")
        try:
            con.execute(f"create schema if not exists {schema}")
            if replace:
                con.execute(f"drop table if exists {qualified}")
            con.register("_frame_to_write", df)
            con.execute(
                f"create table if not exists {qualified} as select * from _frame_to_write limit 0"
            )
            if replace_where is not None:
                where, params = self._where(replace_where)
                con.execute(f"delete from {qualified} where {where}", params)
            columns = ", ".join(str(c) for c in df.columns)
            con.execute(
                f"insert into {qualified} ({columns}) select {columns} from _frame_to_write"
            )
            con.unregister("_frame_to_write")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        return len(df)

    def _pg_type(self, series: pd.Series) -> str:
        dtype = str(series.dtype)
        if dtype in _PG_TYPES:
            return _PG_TYPES[dtype]
        if dtype.startswith("datetime64"):
            return "timestamptz" if "UTC" in dtype or "," in dtype else "timestamp"
        sample = series.dropna()
        if len(sample):
            import datetime as dt

            first = sample.iloc[0]
            if isinstance(first, dt.datetime):
                return "timestamp"
            if isinstance(first, dt.date):
                return "date"
            if isinstance(first, bool):
                return "boolean"
            if isinstance(first, int):
                return "bigint"
            if isinstance(first, float):
                return "double precision"
        return "text"

    def _write_postgres(self, df, qualified, schema, replace, replace_where) -> int:
        columns = [str(c) for c in df.columns]
        defs = ", ".join(f"{c} {self._pg_type(df[c])}" for c in columns)
        records = [
            tuple(None if _missing(v) else _plain(v) for v in row)
            for row in df.itertuples(index=False, name=None)
        ]
        with self._con.transaction(), self._con.cursor() as cur:
            cur.execute(f"create schema if not exists {schema}")
            if replace:
                cur.execute(f"drop table if exists {qualified}")
            cur.execute(f"create table if not exists {qualified} ({defs})")
            if replace_where is not None:
                where, params = self._where(replace_where)
                cur.execute(f"delete from {qualified} where {where}", params)
            with cur.copy(f"copy {qualified} ({', '.join(columns)}) from stdin") as copy:
                for record in records:
                    copy.write_row(record)
        return len(records)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """NumPy scalars and pandas timestamps as the Python values psycopg knows."""
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if hasattr(value, "item"):
        return value.item()
    return value


def connect(environ: Mapping[str, str] | None = None) -> Warehouse:
    """The warehouse ``WAREHOUSE_TARGET`` names, from the environment (or ``environ``)."""
    return Warehouse(Settings.from_env(dict(environ) if environ is not None else None))
