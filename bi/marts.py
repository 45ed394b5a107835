"""Reading the public marts for BI: which tables there are, their exact column types, per-day
statistics, and their rows as a file Hyper copies from.

The warehouse is the one ``WAREHOUSE_TARGET`` names, with the loader's and dbt's connection
settings (:class:`ingestion.config.Settings`): the DuckDB file of ``DUCKDB_PATH`` (opened
read-only, waiting while a writer holds it) or the PostgreSQL server of the ``PG*`` variables (one
read-only, repeatable-read transaction per table, so statistics and rows agree). One source
class per engine, found by name in :data:`SOURCES`.

Which tables: the contracted tables of the dbt manifest's ``marts``, ``metrics`` and ``ml``
folders (the dims, facts and metrics tables; the ML marts once they were built), at the schema
and alias the manifest names; without a manifest, every table of the schemas ``marts`` and
``metrics``. Names reach SQL only after :func:`ident` accepted them, and always double-quoted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from ingestion.config import Settings
from platform_core.settings import current

#: The dbt folders (and, without a manifest, the schemas) whose tables BI reads.
FOLDERS = ("marts", "metrics", "ml")
SCHEMAS = ("marts", "metrics")
#: The key of the rows whose day is NULL, and of a whole table without a day column.
NULL_DAY = "null"
WHOLE = "*"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DAY_MACRO = re.compile(r"incremental_replace_partitions\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]")
_NUMERIC = {"bigint", "integer", "smallint", "numeric", "double"}


def ident(name: str, what: str = "name") -> str:
    """``name`` when it is a plain SQL identifier, else a ValueError naming it."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError(
            f"{what} {name!r} is not a plain SQL identifier (letters, digits, underscore)"
        )
    return name


def quote(name: str) -> str:
    return '"' + ident(name) + '"'


@dataclass(frozen=True)
class Column:
    """A column with its engine-neutral type: ``bigint``, ``integer``, ``smallint``,
    ``numeric`` (with precision and scale), ``double``, ``text``, ``date``, ``timestamp``,
    ``timestamptz``, ``boolean``, ``time``."""

    name: str
    type: str
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True

    @property
    def is_numeric(self) -> bool:
        return self.type in _NUMERIC

    @property
    def label(self) -> str:
        if self.type == "numeric":
            return f"numeric({self.precision},{self.scale})"
        return self.type

    def as_dict(self) -> dict:
        return {"name": self.name, "type": self.label, "nullable": self.nullable}


@dataclass(frozen=True)
class MartTable:
    """A table to extract: where it lives, its columns, and (for an incremental model) the day
    column whose days an incremental refresh replaces."""

    name: str
    schema: str
    relation: str
    columns: tuple[Column, ...] = ()
    day_column: str | None = None

    @property
    def qualified(self) -> str:
        return f"{quote(self.schema)}.{quote(self.relation)}"

    @property
    def measures(self) -> list[Column]:
        return [c for c in self.columns if c.is_numeric]


@dataclass
class DayStats:
    """One day of a table (or the whole table): rows, the sum of every numeric column, and a
    fingerprint of the rows' content (order-independent; any changed value changes it)."""

    rows: int
    sums: dict[str, Decimal | float | None]
    fingerprint: str


@dataclass
class Model:
    """What the dbt manifest says about a model BI reads."""

    name: str
    schema: str
    relation: str
    incremental: bool
    day_column: str | None = None
    column_types: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- the dbt manifest
def manifest_models(path: Path) -> dict[str, Model]:
    """The contracted tables of the ``marts``, ``metrics`` and ``ml`` folders in a dbt
    manifest, by name.

    An incremental model's day column is the one it partitions by
    (``incremental_replace_partitions('<column>')``, dbt_project/macros/incremental_replace.sql),
    else its first ``date`` column."""
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a dbt manifest ({exc})") from None
    out: dict[str, Model] = {}
    for node in manifest.get("nodes", {}).values():
        fqn = node.get("fqn") or []
        if node.get("resource_type") != "model" or len(fqn) < 3 or fqn[1] not in FOLDERS:
            continue
        config = node.get("config", {})
        contracted = (config.get("contract") or {}).get("enforced")
        # BI reads the contracted tables (the stable interface), not the views over score tables
        if not config.get("enabled", True) or not contracted:
            continue
        if config.get("materialized") not in ("table", "incremental"):
            continue
        name = ident(node["name"], "model")
        incremental = node["config"].get("materialized") == "incremental"
        types = {
            c: str(col.get("data_type") or "").lower() for c, col in node.get("columns", {}).items()
        }
        day = None
        if incremental:
            partition = node["config"].get("partition_by")
            if isinstance(partition, list) and partition:
                partition = partition[0]
            if isinstance(partition, dict):
                partition = partition.get("field")
            found = _DAY_MACRO.search(node.get("raw_code") or "")
            day = partition or (found.group(1) if found else None)
            if day is None:
                day = next((c for c, t in types.items() if t == "date"), None)
        out[name] = Model(
            name=name,
            schema=ident(node["schema"], f"schema of {name}"),
            relation=ident(node.get("alias") or name, f"alias of {name}"),
            incremental=incremental,
            day_column=ident(day, f"day column of {name}") if day else None,
            column_types=types,
        )
    return out


# --------------------------------------------------------------------------- types
def _duckdb_type(data_type: str) -> str | None:
    t = data_type.upper()
    if t.startswith(("DECIMAL", "NUMERIC")):
        return "numeric"
    return {
        "BIGINT": "bigint",
        "INTEGER": "integer",
        "SMALLINT": "smallint",
        "TINYINT": "smallint",
        "DOUBLE": "double",
        "FLOAT": "double",
        "REAL": "double",
        "VARCHAR": "text",
        "DATE": "date",
        "TIMESTAMP": "timestamp",
        "TIMESTAMP_US": "timestamp",
        "TIMESTAMP WITH TIME ZONE": "timestamptz",
        "BOOLEAN": "boolean",
        "TIME": "time",
    }.get(t)


def _postgres_type(data_type: str) -> str | None:
    return {
        "bigint": "bigint",
        "integer": "integer",
        "smallint": "smallint",
        "numeric": "numeric",
        "double precision": "double",
        "real": "double",
        "text": "text",
        "character varying": "text",
        "character": "text",
        "date": "date",
        "timestamp without time zone": "timestamp",
        "timestamp with time zone": "timestamptz",
        "boolean": "boolean",
        "time without time zone": "time",
    }.get(data_type.lower())


def _column(table: str, row: tuple, mapper) -> Column:
    name, data_type, precision, scale, nullable = row
    kind = mapper(str(data_type))
    if kind is None:
        raise ValueError(
            f"{table}.{name}: type {data_type} has no Tableau extract mapping (supported: "
            "integers, decimal(p,s), double, text, date, timestamp, boolean, time)"
        )
    if kind == "numeric":
        if precision is None or scale is None:
            raise ValueError(
                f"{table}.{name}: numeric without precision and scale; give it a "
                "decimal(p,s) data_type in the model's contract"
            )
        precision, scale = int(precision), int(scale)
    else:
        precision = scale = None
    return Column(ident(str(name), f"column of {table}"), kind, precision, scale, nullable == "YES")


def _day_key(value) -> str:
    if value is None:
        return NULL_DAY
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def day_literal(key: str) -> str:
    """The SQL condition value of a day key: only ever a date object's ISO form."""
    return f"DATE '{date.fromisoformat(key).isoformat()}'"


def days_condition(table: MartTable, days: list[str]) -> str:
    """``<day column> in (DATE '...', ...) [or <day column> is null]`` for the given day keys."""
    column = quote(table.day_column or "")
    real = sorted(d for d in days if d != NULL_DAY)
    parts = [f"{column} in ({', '.join(day_literal(d) for d in real)})"] if real else []
    if NULL_DAY in days:
        parts.append(f"{column} is null")
    return " or ".join(parts) if parts else "false"


# --------------------------------------------------------------------------- sources
class Source:
    """The warehouse, read-only: catalog, per-day statistics, rows as a file."""

    target = ""
    #: the file format ``export`` writes (a Hyper ``COPY ... FROM`` format)
    file_format = ""

    def tables(self, schemas: tuple[str, ...]) -> set[tuple[str, str]]:
        marks = ", ".join(self.mark for _ in schemas)
        rows = self.rows(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in ({marks})",
            list(schemas),
        )
        return {(str(s), str(t)) for s, t in rows}

    def columns(self, schema: str, relation: str) -> list[Column]:
        rows = self.rows(
            "select column_name, data_type, numeric_precision, numeric_scale, is_nullable "
            "from information_schema.columns "
            f"where table_schema = {self.mark} and table_name = {self.mark} "
            "order by ordinal_position",
            [schema, relation],
        )
        return [_column(f"{schema}.{relation}", r, self.type_of) for r in rows]

    def day_stats(self, table: MartTable) -> dict[str, DayStats]:
        """Rows, sums and a content fingerprint per day of the day column (one key,
        :data:`WHOLE`, for a table without one), computed by the engine in one scan."""
        measures = table.measures
        sums = "".join(f", sum({quote(c.name)})" for c in measures)
        names = ", ".join(quote(c.name) for c in table.columns)
        day = quote(table.day_column) if table.day_column else "null"
        group = " group by 1" if table.day_column else ""
        rows = self.rows(
            f"select {day}, count(*){sums}, {self.fingerprint_sql(names)} "
            f"from {table.qualified}{group}"
        )
        out: dict[str, DayStats] = {}
        for row in rows:
            key = _day_key(row[0]) if table.day_column else WHOLE
            values = dict(zip((c.name for c in measures), row[2:-1], strict=True))
            out[key] = DayStats(int(row[1]), values, str(row[-1] or 0))
        return out

    # engine specifics
    mark = "?"

    def type_of(self, data_type: str) -> str | None:
        raise NotImplementedError

    def fingerprint_sql(self, names: str) -> str:
        raise NotImplementedError

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        raise NotImplementedError

    def export(self, table: MartTable, path: Path, days: list[str] | None = None) -> int:
        """Write the table's rows (only those of ``days`` when given) to ``path``; the number
        of rows written."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def begin_table(self) -> None:
        """Start reading one table: what follows sees one state of it."""

    def end_table(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DuckDBSource(Source):
    target = "duckdb"
    file_format = "parquet"

    def __init__(self, settings: Settings):
        from ingestion.backends.duckdb import connect

        self.path = Path(settings.duckdb_path).resolve()
        if not self.path.exists():
            raise FileNotFoundError(f"no DuckDB warehouse at {self.path} (DUCKDB_PATH)")
        self.con = connect(self.path, read_only=True)

    def type_of(self, data_type: str) -> str | None:
        return _duckdb_type(data_type)

    def fingerprint_sql(self, names: str) -> str:
        return f"sum(hash({names}))"

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def export(self, table: MartTable, path: Path, days: list[str] | None = None) -> int:
        names = ", ".join(quote(c.name) for c in table.columns)
        where = f" where {days_condition(table, days)}" if days is not None else ""
        target = str(path).replace("'", "''")
        # uncompressed: this file is read once, right away, by Hyper on the same disk
        result = self.con.execute(
            f"copy (select {names} from {table.qualified}{where}) to '{target}' "
            "(format parquet, compression uncompressed)"
        ).fetchall()
        return int(result[0][0]) if result else 0

    def describe(self) -> str:
        return f"duckdb:{self.path}"

    def close(self) -> None:
        self.con.close()


class PostgresSource(Source):
    target = "postgres"
    file_format = "csv"
    mark = "%s"

    def __init__(self, settings: Settings):
        from ingestion.backends.base import engine_module
        from ingestion.backends.postgres import PostgresBackend

        psycopg = engine_module("psycopg", "postgres", "psycopg")
        self.env = settings.env
        self.conn = psycopg.connect(PostgresBackend.conninfo(settings.env), autocommit=True)
        # text forms Hyper reads back exactly: ISO dates, UTC, every digit of a float
        for setting in ("datestyle = 'ISO, YMD'", "timezone = 'UTC'", "extra_float_digits = 3"):
            self.conn.execute(f"set {setting}")
        self._in_table = False

    def type_of(self, data_type: str) -> str | None:
        return _postgres_type(data_type)

    def fingerprint_sql(self, names: str) -> str:
        # 60 bits of each row's md5, summed exactly
        return f"sum(('x' || substr(md5(row({names})::text), 1, 15))::bit(60)::bigint::numeric)"

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def begin_table(self) -> None:
        self.conn.execute("begin transaction isolation level repeatable read read only")
        self._in_table = True

    def end_table(self) -> None:
        if self._in_table:
            self.conn.execute("commit")
            self._in_table = False

    def export(self, table: MartTable, path: Path, days: list[str] | None = None) -> int:
        names = ", ".join(quote(c.name) for c in table.columns)
        where = f" where {days_condition(table, days)}" if days is not None else ""
        with self.conn.cursor() as cur, path.open("wb") as out:
            with cur.copy(
                f"copy (select {names} from {table.qualified}{where}) to stdout with (format csv)"
            ) as copy:
                for chunk in copy:
                    out.write(chunk)
            return max(cur.rowcount, 0)

    def describe(self) -> str:
        s = current(self.env)
        return f"postgres:{s.get('PGDATABASE')}@{s.get('PGHOST')}:{s.get('PGPORT')}"

    def close(self) -> None:
        self.conn.close()


#: One source class per engine BI extracts read (other targets: a clear error).
SOURCES: dict[str, type[Source]] = {"duckdb": DuckDBSource, "postgres": PostgresSource}


def open_source(settings: Settings | None = None) -> Source:
    settings = settings or Settings.from_env()
    cls = SOURCES.get(settings.target)
    if cls is None:
        raise ValueError(
            f"extracts read from {', '.join(SOURCES)} warehouses, not "
            f"WAREHOUSE_TARGET={settings.target!r}"
        )
    return cls(settings)


def discover(
    source: Source, manifest: Path | None, only: list[str] | None = None
) -> tuple[list[MartTable], list[str]]:
    """The tables to extract (with their columns) and the models of the manifest that are not
    built in the warehouse (the ML marts before their first scores, say). ``only`` picks tables
    by name; an unknown name is a ValueError listing the known ones."""
    if manifest is not None and manifest.exists():
        models = manifest_models(manifest)
    else:
        models = {}
        for schema in SCHEMAS:
            for _, relation in source.tables((schema,)):
                if _IDENT.fullmatch(relation):
                    models[relation] = Model(relation, schema, relation, incremental=False)
    existing = source.tables(tuple(sorted({m.schema for m in models.values()})))
    built = {n: m for n, m in models.items() if (m.schema, m.relation) in existing}
    missing = sorted(set(models) - set(built))
    if only:
        unbuilt = [n for n in only if n in missing]
        if unbuilt:
            raise ValueError(
                f"{', '.join(unbuilt)}: in the dbt manifest but not built in the warehouse "
                "(run dbt first)"
            )
        unknown = [n for n in only if n not in built]
        if unknown:
            raise ValueError(
                f"unknown table {', '.join(repr(n) for n in unknown)}; tables with an extract: "
                f"{', '.join(sorted(built))}"
            )
        built = {n: built[n] for n in only}
    tables = []
    for name in sorted(built):
        m = built[name]
        columns = tuple(source.columns(m.schema, m.relation))
        day = m.day_column if m.incremental else None
        if day is not None and not any(c.name == day and c.type == "date" for c in columns):
            day = None  # not a date column of the table: refresh it whole
        tables.append(MartTable(name, m.schema, m.relation, columns, day))
    return tables, missing
