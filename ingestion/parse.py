"""Parsing one landing file with DuckDB's native CSV reader, keeping every row accounted for.

The reader types each column by its contract and, with ``store_rejects``, sets aside every line it
cannot parse (wrong field count, unclosed quote, a value that is not its type) with the line number
and the column. Rows whose key is empty are set aside after parsing. So for every file:

    data lines = rows loaded + rows rejected

A record never spans lines in the landing contract: when an unclosed quote makes the reader swallow
the following lines, the broken line is rejected and the swallowed lines are parsed again on their
own. Good rows keep their physical line number in ``_source_line``.

Every backend parses the same way: the DuckDB warehouse inside its own connection, the others in an
in-memory DuckDB from which the good rows are exported to the engine's bulk path.
"""

from __future__ import annotations

import csv
import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .contracts import TableContract
from .landing import FileCheck, FileProblem, LandingFile

_ids = itertools.count(1)

_KIND = {
    "CAST": "value does not parse",
    "MISSING COLUMNS": "wrong field count",
    "TOO MANY COLUMNS": "wrong field count",
    "UNQUOTED VALUE": "unclosed quote",
    "LINE SIZE OVER MAXIMUM": "line too long",
    "INVALID ENCODING": "invalid encoding",
    "INVALID STATE": "malformed line",
}


@dataclass
class Reject:
    line: int
    column: str | None
    reason: str
    raw: str


@dataclass
class ParsedFile:
    """A parsed file: good rows in a temporary DuckDB table, rejects in memory."""

    file: LandingFile
    contract: TableContract
    check: FileCheck
    con: duckdb.DuckDBPyConnection
    rows_loaded: int
    rejects: list[Reject] = field(default_factory=list)
    # SQL pieces: the parsed temp table joined by position to the good rows' line numbers
    source: str = ""
    columns: str = ""
    keep: str = "true"
    cleanup: list = field(default_factory=list)  # callables

    @property
    def rows_read(self) -> int:
        return self.check.data_lines

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)

    @property
    def schema_drift(self) -> str | None:
        parts = []
        if self.check.extra_columns:
            parts.append("extra column(s) ignored: " + ", ".join(self.check.extra_columns))
        if self.check.missing_columns:
            parts.append(
                "optional column(s) missing, loaded as null: "
                + ", ".join(self.check.missing_columns)
            )
        return "; ".join(parts) or None

    def select(self, extra: str = "") -> str:
        """SQL giving the good rows: contract columns then ``_source_line`` (+ ``extra``)."""
        return f"select {self.columns}, _source_line{extra} from {self.source} where {self.keep}"

    def drop(self) -> None:
        for step in self.cleanup:
            step()
        self.cleanup.clear()


def _duck_type(type_: str) -> str:
    return type_.upper()


def parse_file(
    con: duckdb.DuckDBPyConnection,
    file: LandingFile,
    contract: TableContract,
    check: FileCheck,
    data: bytes,
) -> ParsedFile:
    """Parse ``file`` into temporary tables of ``con``; collect its rejects."""
    types = {c.name: _duck_type(c.type) for c in contract.columns}
    columns = ", ".join(f"'{h}': '{types.get(h, 'VARCHAR')}'" for h in check.header)
    header = data[: data.find(b"\n")] if b"\n" in data[:65536] else data.split(b"\n", 1)[0]
    pieces: list[tuple[str, str]] = []  # (parsed temp table, SQL of each row's line number)
    cleanup: list = []
    rejects: list[Reject] = []
    path, physical = file.path, np.arange(2, check.data_lines + 2, dtype=np.int64)
    tmp_dir = None
    try:
        while True:
            raw, line_sql, bad, swallowed, registered = _scan(
                con, path, columns, physical, contract, file.path
            )
            cleanup.append(lambda t=raw: con.execute(f"drop table if exists {t}"))
            if registered:
                cleanup.append(lambda v=registered: con.unregister(v))
            pieces.append((raw, line_sql))
            rejects += bad
            if not swallowed:
                break
            # Lines swallowed by an unclosed quote are records of their own: parse them again.
            if tmp_dir is None:
                tmp_dir = tempfile.TemporaryDirectory(prefix="ingest-")
                cleanup.append(tmp_dir.cleanup)
            path = Path(tmp_dir.name) / f"swallowed-{len(pieces)}.csv"
            text = _lines(data, swallowed)
            path.write_bytes(
                header + b"\n" + b"".join(text[ln].encode("utf-8") + b"\n" for ln in swallowed)
            )
            physical = np.array(swallowed, np.int64)
    except BaseException:
        for step in cleanup:
            step()
        raise
    # DuckDB tolerates trailing empty fields past the header; the contract does not.
    excluded = _trailing_fields(data, len(check.header), {r.line for r in rejects})
    rejects += excluded
    keep = ""
    if excluded:
        name = f"_excluded_{next(_ids)}"
        con.register(name, pa.table({"line": np.array([r.line for r in excluded], np.int64)}))
        cleanup.append(lambda: con.unregister(name))
        keep = f" and {{line}} not in (select line from {name})"
    key_null = " or ".join(f'r."{k}" is null' for k in contract.primary_key)
    select_cols = ", ".join(
        f'r."{c}"' if c in check.header else f'cast(null as {types[c]}) as "{c}"'
        for c in contract.column_names
    )
    keys = ", ".join(f"r.{k}" for k in contract.primary_key)
    null_keys = sorted(
        row
        for raw, line_sql in pieces
        for row in con.execute(
            f"select {_line_expr(line_sql)}, {keys} from {_from(raw, line_sql)} "
            f"where ({key_null}){keep.format(line=_line_expr(line_sql))}"
        ).fetchall()
    )
    if null_keys:
        raw_lines = _lines(data, [row[0] for row in null_keys])
        for row in null_keys:
            col = next(k for k, v in zip(contract.primary_key, row[1:], strict=True) if v is None)
            rejects.append(Reject(row[0], col, f"null key: {col} is empty", raw_lines[row[0]]))
    rejects.sort(key=lambda r: r.line)
    source = " union all ".join(
        f"(select {select_cols}, {_line_expr(line_sql)} as _source_line "
        f"from {_from(raw, line_sql)} where not ({key_null}){keep.format(line=_line_expr(line_sql))})"
        for raw, line_sql in pieces
    )
    return ParsedFile(
        file,
        contract,
        check,
        con,
        check.data_lines - len(rejects),
        rejects,
        source=f"({source}) as good",
        columns=", ".join(f'"{c}"' for c in contract.column_names),
        keep="true",
        cleanup=cleanup,
    )


def _scan(
    con, path: Path, columns: str, physical: np.ndarray, contract: TableContract, origin: Path
):
    """Read one CSV into a temp table; map its records to physical line numbers.

    Returns (table, registered line numbers of its good rows, rejects, swallowed line numbers).
    """
    n = next(_ids)
    raw, rej, scan, lines = f"_raw_{n}", f"_rej_{n}", f"_scan_{n}", f"_lines_{n}"
    quoted = str(path).replace("'", "''")
    try:
        con.execute(f"""
            create or replace temp table {raw} as
            select * from read_csv('{quoted}', header = true, delim = ',', quote = '"',
                escape = '"', columns = {{{columns}}}, auto_detect = false,
                strict_mode = true, ignore_errors = true, store_rejects = true,
                rejects_table = '{rej}', rejects_scan = '{scan}', null_padding = false,
                encoding = 'utf-8')""")
    except duckdb.Error as exc:
        raise FileProblem(origin, f"cannot be parsed as CSV ({exc})") from None
    try:
        encoding = con.execute(
            f"select min(line) from {rej} where error_type = 'INVALID ENCODING'"
        ).fetchall()[0][0]
        if encoding is not None:
            con.execute(f"drop table {raw}")
            raise FileProblem(
                origin,
                f"not UTF-8: invalid byte sequence at line "
                f"{int(physical[int(encoding) - 2])}; re-export the file as UTF-8",
            )
        bad, swallowed = _parse_rejects(con, rej, contract, physical)
    finally:
        con.execute(f"drop table if exists {rej}")
        con.execute(f"drop table if exists {scan}")
    taken = np.array([r.line for r in bad] + swallowed, np.int64)
    good = np.ones(len(physical), bool)
    good[np.searchsorted(physical, taken)] = False  # physical is sorted; taken are in it
    good_lines = physical[good]
    parsed = con.execute(f"select count(*) from {raw}").fetchall()[0][0]
    if parsed != len(good_lines):
        con.execute(f"drop table {raw}")
        raise FileProblem(
            origin,
            f"{len(physical)} lines but {parsed + len(taken)} records: a quoted field "
            "spans lines, which the landing contract does not allow (one record per line)",
        )
    contiguous = len(good_lines) == 0 or (good_lines[-1] - good_lines[0] == len(good_lines) - 1)
    if contiguous:
        # no gaps (the usual case): a row's line is its position in the table plus the first line
        first = int(good_lines[0]) if len(good_lines) else 2
        return raw, f"rowid:{first}", bad, swallowed, None
    # gaps: physical line of each good row, for a positional join with the parsed rows
    con.register(lines, pa.table({"_source_line": good_lines}))
    return raw, f"join:{lines}", bad, swallowed, lines


def _line_expr(line_sql: str) -> str:
    kind, value = line_sql.split(":", 1)
    return f"(r.rowid + {value})" if kind == "rowid" else "l._source_line"


def _from(raw: str, line_sql: str) -> str:
    kind, value = line_sql.split(":", 1)
    return f"{raw} r" if kind == "rowid" else f"{raw} r positional join {value} l"


def _parse_rejects(
    con, rej: str, contract: TableContract, physical: np.ndarray
) -> tuple[list[Reject], list[int]]:
    """One reject per rejected record (its first error, by column) and the lines it swallowed.

    DuckDB numbers records, not lines: a record that swallowed k more lines counts as one, so
    later numbers are shifted back by k; ``physical`` maps data records to file lines.
    """
    rows = con.execute(f"""
        select line, arg_min(column_name, column_idx), arg_min(error_type, column_idx)::varchar,
               arg_min(error_message, column_idx), any_value(csv_line)
        from {rej} group by line order by line""").fetchall()
    out: list[Reject] = []
    swallowed: list[int] = []
    shift = 0
    for reported, column, kind, message, csv_line in rows:
        index = int(reported) - 2 + shift  # 0-based data record, header excluded
        line = int(physical[index])
        text = csv_line or ""
        label = _KIND.get(kind, kind.lower())
        if kind == "CAST" and column in contract.column_names:
            reason = f"{label}: column {column} ({message})"
        elif kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            reason = f"{label}: {message}"
        elif column:
            reason = f"{label} in column {column}: {message}"
        else:
            reason = f"{label}: {message}"
        parts = text.split("\n")
        out.append(Reject(line, column, reason, parts[0]))
        extra = len(parts) - 1
        swallowed += [int(x) for x in physical[index + 1 : index + 1 + extra]]
        shift += extra
    return out, swallowed


def _trailing_fields(data: bytes, n_fields: int, rejected: set[int]) -> list[Reject]:
    """Lines that end in a delimiter and have more fields than the header."""
    ends = []
    crlf = data[: data.find(b"\n")].endswith(b"\r")
    for needle in (b",\r\n",) if crlf else (b",\n",):
        at = data.find(needle)
        while at >= 0:
            ends.append(at)
            at = data.find(needle, at + 1)
    if data.endswith((b",", b",\r")):
        ends.append(len(data) - 1)
    candidates: list[int] = []
    line, pos = 1, 0
    for at in sorted(ends):
        line += data.count(b"\n", pos, at)
        pos = at
        if line >= 2 and line not in rejected:
            candidates.append(line)
    out = []
    if candidates:
        text = _lines(data, candidates)
        for ln in candidates:
            fields = next(csv.reader([text[ln]]), [])
            if len(fields) != n_fields:
                out.append(
                    Reject(
                        ln,
                        None,
                        f"wrong field count: expected {n_fields} fields, found {len(fields)}",
                        text[ln],
                    )
                )
    return out


def _lines(data: bytes, wanted: list[int]) -> dict[int, str]:
    """Raw text of the given 1-based physical lines."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    out = {}
    for line in wanted:
        start = 0 if line == 1 else int(ends[line - 2]) + 1
        stop = int(ends[line - 1]) if line - 1 < len(ends) else len(data)
        out[line] = data[start:stop].decode("utf-8").rstrip("\r")
    return out
