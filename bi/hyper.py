"""Tableau ``.hyper`` files with the Hyper API: exact types, bulk ``COPY`` from a file, days
replaced in place, and the totals a file reconciles with.

Each extract holds one table, ``"Extract"."Extract"`` (the name Tableau gives its own
single-table extracts, which every Tableau version and Tableau Server accept). Types map exactly:
a ``decimal(p,s)`` stays ``NUMERIC(p,s)`` (scale kept), a date stays ``DATE``, timestamps
``TIMESTAMP`` (``TIMESTAMP WITH TIME ZONE`` when the source has a zone), booleans ``BOOL``, 64-bit
integers ``BIG INT``, text ``TEXT``.

One Hyper server process serves a whole run (:func:`hyper_process`); its logs go to the folder
given (rolled over at 10 MB), never to the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from .marts import Column, MartTable

#: The file format written: version 2 opens in Tableau Desktop/Server 2020.4.15, 2021.1.12 and
#: later; it stores numerics of up to 18 digits (38 needs version 3: Tableau 2022.4.1/2023.1).
DATABASE_VERSION = "2"
MAX_PRECISION = 18
SCHEMA = "Extract"
TABLE = "Extract"


def _api():
    import tableauhyperapi

    return tableauhyperapi


def sql_type(column: Column):
    """The Hyper ``SqlType`` of a column (a ValueError when it has none)."""
    api = _api()
    t = api.SqlType
    if column.type == "numeric":
        if column.precision > MAX_PRECISION:
            raise ValueError(
                f"column {column.name}: {column.label} has more than {MAX_PRECISION} digits, "
                "which Tableau extracts cannot hold; narrow it in the model's contract"
            )
        return t.numeric(column.precision, column.scale)
    mapping = {
        "bigint": t.big_int,
        "integer": t.int,
        "smallint": t.small_int,
        "double": t.double,
        "text": t.text,
        "date": t.date,
        "timestamp": t.timestamp,
        "timestamptz": t.timestamp_tz,
        "boolean": t.bool,
        "time": t.time,
    }
    if column.type not in mapping:
        raise ValueError(f"column {column.name}: no Hyper type for {column.label}")
    return mapping[column.type]()


def table_definition(table: MartTable):
    api = _api()
    nullable = {True: api.NULLABLE, False: api.NOT_NULLABLE}
    return api.TableDefinition(
        api.TableName(SCHEMA, TABLE),
        [
            api.TableDefinition.Column(c.name, sql_type(c), nullable[c.nullable])
            for c in table.columns
        ],
    )


@contextmanager
def hyper_process(log_dir: Path) -> Iterator[object]:
    """A Hyper server for the whole run, telemetry off, logs under ``log_dir``."""
    api = _api()
    log_dir.mkdir(parents=True, exist_ok=True)
    with api.HyperProcess(
        telemetry=api.Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU,
        parameters={
            "log_dir": str(log_dir),
            # the log rolls over at 10 MB, two files kept (a daily refresh writes ~1 MB)
            "log_file_size_limit": "10M",
            "log_file_max_count": "2",
            "default_database_version": DATABASE_VERSION,
        },
    ) as process:
        yield process


def _copy_sql(source: Path, file_format: str) -> str:
    api = _api()
    options = "FORMAT PARQUET" if file_format == "parquet" else "FORMAT CSV, HEADER false, NULL ''"
    return (
        f"COPY {api.TableName(SCHEMA, TABLE)} FROM {api.escape_string_literal(str(source))} "
        f"WITH ({options})"
    )


def totals(connection, table: MartTable) -> tuple[int, dict[str, Decimal | float | None]]:
    """Rows and the sum of every numeric column of the extract's table, computed by Hyper:
    decimals sum to 38-digit numerics, 64-bit integers are cast to them first, smaller integers
    sum to 64 bits, doubles to a double (an overflow is an error, never a wrong figure)."""
    api = _api()
    parts = ["count(*)"]
    for c in table.measures:
        name = api.escape_name(c.name)
        if c.type == "bigint":
            parts.append(f"sum(cast({name} as numeric(38,0)))")
        else:
            parts.append(f"sum({name})")
    row = connection.execute_list_query(
        f"select {', '.join(parts)} from {api.TableName(SCHEMA, TABLE)}"
    )[0]
    return int(row[0]), dict(zip((c.name for c in table.measures), row[1:], strict=True))


def write_full(
    process, path: Path, table: MartTable, source: Path, file_format: str, check
) -> tuple[int, dict]:
    """Write ``path`` anew from ``source``: a new file under a temporary name, copied into,
    checked with ``check(rows, sums)`` (which raises when they do not reconcile), then renamed
    over the old one, so a reader never sees half a file or a wrong one."""
    api = _api()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with api.Connection(process.endpoint, str(tmp), api.CreateMode.CREATE_AND_REPLACE) as con:
            con.catalog.create_schema(api.SchemaName(SCHEMA))
            con.catalog.create_table(table_definition(table))
            con.execute_command(_copy_sql(source, file_format))
            rows, sums = totals(con, table)
            check(rows, sums)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows, sums


def replace_days(
    process,
    path: Path,
    table: MartTable,
    condition: str,
    source: Path,
    file_format: str,
    check,
) -> tuple[int, int, dict]:
    """In one transaction of the existing file: delete the rows matching ``condition`` (the
    changed days), copy the new rows of those days from ``source``, check the whole table with
    ``check(rows, sums)``; commit only when it reconciles. Returns (rows deleted, rows total,
    sums)."""
    api = _api()
    with api.Connection(process.endpoint, str(path), api.CreateMode.NONE) as con:
        con.execute_command("BEGIN TRANSACTION")
        try:
            deleted = con.execute_command(
                f"DELETE FROM {api.TableName(SCHEMA, TABLE)} WHERE {condition}"
            )
            con.execute_command(_copy_sql(source, file_format))
            rows, sums = totals(con, table)
            check(rows, sums)
        except BaseException:
            con.execute_command("ROLLBACK")
            raise
        con.execute_command("COMMIT")
    return int(deleted or 0), rows, sums


def read_totals(process, path: Path, table: MartTable) -> tuple[int, dict]:
    api = _api()
    with api.Connection(process.endpoint, str(path), api.CreateMode.NONE) as con:
        return totals(con, table)
