"""Parsing one landing file: strict values, one verdict on every engine, every row accounted for.

A value's fate is decided here, once, before any warehouse sees it; every backend loads the rows
this module accepts (DuckDB in its own connection, the others from an in-memory DuckDB), so the
same rows reach bronze on DuckDB, PostgreSQL, Spark, Snowflake and Databricks. For every file:

    data lines = rows loaded + rows rejected

What a value must look like (``VALUES`` in README "Loading bronze"; surrounding spaces or tabs are
ignored for numbers and dates, nowhere else):

- integer: ``-?[0-9]+`` within the column's range (``1.5``, ``1_000``, ``0x10``, ``0b101``,
  ``1e3``, ``+5`` are rejected);
- decimal(p,s): ``[+-]?digits[.digits]`` (or ``.digits``); digits beyond the scale are rejected
  unless they are zeros (``1.005`` in a 2-decimal column is rejected, never rounded); ``NaN``,
  ``inf``, ``1_000`` and exponents are rejected; at most p-s digits before the point;
- date: ``YYYY-MM-DD``, a real calendar day in years 0001-9999 (``infinity``, ``epoch`` and
  anything with a time are rejected);
- timestamp: ``YYYY-MM-DD[( |T)HH[:MM[:SS[.ffffff]]]]`` with hours 00-23, minutes and seconds
  00-59 (``24:00:00`` and leap seconds are rejected), optionally followed by ``Z`` or an offset
  ``+HH:MM``/``+HHMM``/``+HH``: such values are converted to UTC; timestamps without an offset are
  taken as UTC, as the landing contract says;
- boolean: ``true`` or ``false``;
- text: any UTF-8 without NUL bytes, at most 16 MiB (Snowflake's limit) per value.

An empty field is null, quoted (``""``) or not, for every type. A row whose key is null is rejected. Each rejected line lands in ``_rejects`` with its line, the column and the
reason.

Two ways to the same verdict:

- the fast path reads the file with Arrow's CSV reader, whose typed conversion is strict; it is
  used only when the whole file converts and a byte scan finds none of the forms Arrow would
  accept but the rules above reject (``0x`` prefixes, a digit followed by ``e``/``E``, NUL bytes)
  or read differently (a quote that neither opens, closes nor doubles inside a field);
- otherwise DuckDB's CSV reader splits the file into text fields (recording lines of the wrong
  shape) and one SQL pass applies the rules above to every field, naming the first failing column
  of each rejected line. tests/test_ingestion_values.py runs a corpus of values through both paths.

A record never spans lines in the landing contract: when an unclosed quote makes the reader swallow
the following lines, the broken line is rejected and the swallowed lines are parsed again on their
own. Good rows keep their physical line number in ``_source_line``.

No file content ever becomes SQL text: the file is read through a bound parameter, its header names
only pick positions (``c0``, ``c1``... are the names SQL sees), and values are compared as data.
"""

from __future__ import annotations

import csv
import itertools
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .contracts import (
    BIGINT,
    BOOLEAN,
    DATE,
    INTEGER,
    TIMESTAMP,
    VARCHAR,
    TableContract,
    decimal_parts,
)
from .landing import FileCheck, FileProblem, LandingFile, shown

_ids = itertools.count(1)

_KIND = {
    "MISSING COLUMNS": "wrong field count",
    "TOO MANY COLUMNS": "wrong field count",
    "UNQUOTED VALUE": "unclosed quote",
    "LINE SIZE OVER MAXIMUM": "line too long",
    "INVALID ENCODING": "invalid encoding",
    "INVALID STATE": "malformed line",
}
# The longest line the slow path reads; longer lines are rejected as "line too long".
MAX_LINE_BYTES = 64 * 1024 * 1024
# The longest text value: Snowflake's VARCHAR limit, so every engine takes what one takes.
MAX_TEXT_BYTES = 16 * 1024 * 1024
_ARROW_BLOCK = 16 * 1024 * 1024
# 0001-01-01 as Arrow stores it: days (date32) and microseconds (timestamp[us]) since 1970
_FIRST_DAY = {DATE: -719162, TIMESTAMP: -719162 * 86_400_000_000}


@dataclass
class Reject:
    line: int
    column: str | None
    reason: str
    raw: str


@dataclass
class ParsedFile:
    """A parsed file: good rows behind a SQL source in ``con``, rejects in memory."""

    file: LandingFile
    contract: TableContract
    check: FileCheck
    con: duckdb.DuckDBPyConnection
    rows_loaded: int
    rejects: list[Reject] = field(default_factory=list)
    source: str = ""  # SQL FROM item of the good rows (generated names only)
    columns: str = ""
    cleanup: list = field(default_factory=list)  # callables
    path: str = "checked"  # "fast" (Arrow) or "checked" (DuckDB + SQL rules)
    # the fast path's good rows (``source`` names them in ``con``): another connection of the
    # same database may register them under that name too (``DuckDBBackend.load``'s writer)
    arrow: pa.Table | None = None

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
            parts.append(
                "extra column(s) ignored: " + ", ".join(map(shown, self.check.extra_columns))
            )
        if self.check.missing_columns:
            parts.append(
                "optional column(s) missing, loaded as null: "
                + ", ".join(self.check.missing_columns)
            )
        return "; ".join(parts) or None

    def select(self, extra: str = "") -> str:
        """SQL giving the good rows: contract columns then ``_source_line`` (+ ``extra``, which
        may hold ``?`` placeholders the caller binds)."""
        return f"select {self.columns}, _source_line{extra} from {self.source}"

    def drop(self) -> None:
        """Drop the temporary objects; a failure here must not hide the load's own outcome, so
        it is reported on stderr (the connection's temporary objects go with it anyway). The
        Arrow table of the good rows is let go too: the overlapped loader keeps the attempt
        written before the current one (to compare contents) while it parses the next."""
        self.arrow = None
        for step in self.cleanup:
            try:
                step()
            except duckdb.FatalException:
                return  # the database is gone, and its temporary objects with it
            except Exception as exc:
                print(f"warning: cleanup after {self.file.name}: {exc}".splitlines()[0],
                      file=sys.stderr)  # fmt: skip
        self.cleanup.clear()


def quote_ident(name: str) -> str:
    """A contract name as a SQL identifier (the same quoting on every engine here)."""
    return '"' + name.replace('"', '""') + '"'


# ----------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class _Col:
    name: str
    type: str
    position: int | None  # in the file's header; None: optional column missing from the file


def _layout(contract: TableContract, check: FileCheck) -> list[_Col]:
    where = {name: i for i, name in enumerate(check.header)}
    return [_Col(c.name, c.type, where.get(c.name)) for c in contract.columns]


def parse_file(
    con: duckdb.DuckDBPyConnection,
    file: LandingFile,
    contract: TableContract,
    check: FileCheck,
    data: bytes,
    fast: bool = True,
) -> ParsedFile:
    """Parse ``file`` into temporary objects of ``con``; collect its rejects."""
    cols = _layout(contract, check)
    if fast:
        parsed = _parse_fast(con, file, contract, check, data, cols)
        if parsed is not None:
            return parsed
    return _parse_checked(con, file, contract, check, data, cols)


# ----------------------------------------------------------------------------- fast path
def _arrow_type(type_: str) -> pa.DataType:
    parts = decimal_parts(type_)
    if parts:
        return pa.decimal128(*parts)
    return {
        BIGINT: pa.int64(),
        INTEGER: pa.int32(),
        VARCHAR: pa.string(),
        BOOLEAN: pa.bool_(),
        DATE: pa.date32(),
        TIMESTAMP: pa.timestamp("us"),
    }[type_]


_SCAN_CHUNK = 1 << 24  # bytes compared at a time by the byte checks: their memory stays flat


def _quotes_well_placed(data: bytes) -> bool:
    """Every quote opens a field, closes one, or is doubled inside one (RFC 4180). Arrow and
    DuckDB read stray quotes (``"web" ,``, `` "web"``, ``"we"b"``) differently, so files with
    such quotes take the checked path.

    A quote is well placed when the byte before it is a comma, a newline, a quote or the
    file's start (or the last byte of a UTF-8 byte-order mark), or the byte after it is a
    comma, a newline, a carriage return, a quote or the file's end. The bytes are compared
    16 MiB at a time against their neighbours (shifted views, no copy of the file and no list
    of quote positions: the first customers file at scale 100 holds 50M quotes)."""
    if b'"' not in data:
        return True
    buf = np.frombuffer(data, np.uint8)
    n = len(buf)
    for start in range(1, n - 1, _SCAN_CHUNK):  # the first and the last byte are always fine
        end = min(start + _SCAN_CHUNK, n - 1)
        quote = buf[start:end] == 34
        if not quote.any():
            continue
        before, after = buf[start - 1 : end - 1], buf[start + 1 : end + 1]
        bad = quote & (before != 44) & (before != 10) & (before != 34)
        bad &= (after != 44) & (after != 10) & (after != 13) & (after != 34)
        if start <= 3 < end and buf[2] == 0xBF:  # a quote right after a byte-order mark
            bad[3 - start] = False
        if bad.any():
            return False
    return True


def _fast_possible(data: bytes, cols: list[_Col]) -> bool:
    """No byte pattern Arrow would accept but the rules reject (see the module docstring).

    Single-byte searches first: they run at memory speed, and most files hold none of them."""
    if b"\x00" in data:
        return False
    if (b"x" in data and b"0x" in data) or (b"X" in data and b"0X" in data):
        return False
    if not _quotes_well_placed(data):
        return False
    if any(decimal_parts(c.type) for c in cols if c.position is not None):
        start = data.find(b"\n") + 1
        if (data.find(b"e", start) >= 0 or data.find(b"E", start) >= 0) and _digit_then_e(
            data, start
        ):
            return False
    return True


def _digit_then_e(data: bytes, start: int) -> bool:
    """Whether a digit at ``start`` or later is followed by ``e`` or ``E`` (an exponent such
    as ``1e3``, which Arrow reads as a decimal and the rules reject). Compared 16 MiB at a
    time, as the quote check is: a regular expression took 15 s over 60 days at scale 100,
    where most files hold text with an ``e``."""
    buf = np.frombuffer(data, np.uint8)
    n = len(buf)
    for at in range(max(start, 0) + 1, n, _SCAN_CHUNK):
        end = min(at + _SCAN_CHUNK, n)
        is_e = (buf[at:end] | 0x20) == 101  # e (101) or E (69)
        if not is_e.any():
            continue
        before = buf[at - 1 : end - 1]
        if (is_e & (before >= 48) & (before <= 57)).any():
            return True
    return False


def _parse_fast(con, file, contract, check, data, cols) -> ParsedFile | None:
    if not _fast_possible(data, cols):
        return None
    present = [c for c in cols if c.position is not None]
    names = [f"c{i}" for i in range(len(check.header))]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                skip_rows=1, column_names=names, block_size=_ARROW_BLOCK
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={f"c{c.position}": _arrow_type(c.type) for c in present},
                include_columns=[f"c{c.position}" for c in present],
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                true_values=["true"],
                false_values=["false"],
                check_utf8=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
        return None  # something in the file needs the line-by-line verdict
    if table.num_rows != check.data_lines:
        return None
    arrays, fields = [], []
    for c in cols:
        if c.position is None:
            arrays.append(pa.nulls(table.num_rows, _arrow_type(c.type)))
        else:
            column = table.column(f"c{c.position}")
            if c.name in contract.primary_key and column.null_count:
                return None  # null keys are rejected with their line: the checked path does it
            if (
                c.type == VARCHAR
                and len(column)
                and ((pc.max(pc.binary_length(column)).as_py() or 0) > MAX_TEXT_BYTES)
            ):
                return None
            if c.type in (DATE, TIMESTAMP) and column.null_count < len(column):
                # Arrow reads year 0000, which the rules (and PostgreSQL) reject
                low = pc.min(column).value
                if low is not None and low < _FIRST_DAY[c.type]:
                    return None
            arrays.append(column)
        fields.append(pa.field(c.name, _arrow_type(c.type)))
    arrays.append(pa.array(np.arange(2, table.num_rows + 2, dtype=np.int64)))
    fields.append(pa.field("_source_line", pa.int64()))
    good = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    name = f"_fast_{next(_ids)}"
    con.register(name, good)
    return ParsedFile(
        file,
        contract,
        check,
        con,
        table.num_rows,
        [],
        source=name,
        columns=", ".join(quote_ident(c.name) for c in cols),
        cleanup=[lambda: con.unregister(name)],
        path="fast",
        arrow=good,
    )


# ----------------------------------------------------------------------------- checked path
_TS = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[ T]([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)
_TS_PARTS = ["y", "mo", "d", "h", "mi", "s", "f", "tz"]


def _rule(c: _Col, v: str) -> tuple[str, str, str]:
    """(SQL: the value is acceptable, SQL: the typed value, what was expected) for text ``v``.

    ``v`` is SQL over generated names only. Empty text is null for every type but text."""
    parts = decimal_parts(c.type)
    if c.type in (BIGINT, INTEGER):
        t = "bigint" if c.type == BIGINT else "integer"
        n = f"nullif({v}, '')"
        ok = (
            f"({n} is null or (regexp_full_match({v}, '[ \\t]*-?[0-9]+[ \\t]*') "
            f"and try_cast(trim({v}, ' \t') as {t}) is not null))"
        )
        return ok, f"try_cast(trim({n}, ' \t') as {t})", f"an {c.type} (digits, optional minus)"
    if parts:
        p, s = parts
        t = f"decimal({p},{s})"
        n = f"nullif({v}, '')"
        pattern = f"[ \\t]*[+-]?([0-9]+(\\.[0-9]{{0,{s}}}0*)?|\\.[0-9]{{1,{s}}}0*)[ \\t]*"
        ok = (
            f"({n} is null or (regexp_full_match({v}, '{pattern}') "
            f"and try_cast(trim({v}, ' \t') as {t}) is not null))"
        )
        return (
            ok,
            f"try_cast(trim({n}, ' \t') as {t})",
            f"a decimal with at most {p - s} digits before and {s} after the point",
        )
    if c.type == DATE:
        n = f"nullif({v}, '')"
        ok = (
            f"({n} is null or (regexp_full_match({v}, '[ \\t]*[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[ \\t]*') "
            f"and trim({v}, ' \t')[1:4] <> '0000' "
            f"and try_cast(trim({v}, ' \t') as date) is not null))"
        )
        return ok, f"try_cast(trim({n}, ' \t') as date)", "a date YYYY-MM-DD"
    if c.type == TIMESTAMP:
        g = f"{v}__ts"  # struct of the regex groups, computed once per row (see _checked_sql)
        day = f"({g}.y || '-' || {g}.mo || '-' || {g}.d)"
        clock = (
            f"(coalesce(nullif({g}.h, ''), '00') || ':' || coalesce(nullif({g}.mi, ''), '00') "
            f"|| ':' || coalesce(nullif({g}.s, ''), '00') || '.' || rpad({g}.f, 6, '0'))"
        )
        offset = (
            f"(case when {g}.tz in ('', 'Z') then 0 else "
            f"(case when {g}.tz[1] = '-' then -1 else 1 end) * "
            f"(try_cast({g}.tz[2:3] as integer) * 60 + "
            f"coalesce(try_cast(nullif(replace({g}.tz[4:], ':', ''), '') as integer), 0)) end)"
        )
        ok = (
            f"(nullif({v}, '') is null or ({g}.y <> '' and {g}.y <> '0000' "
            f"and try_cast({day} as date) is not null "
            f"and coalesce(nullif({g}.h, ''), '00') <= '23' "
            f"and coalesce(nullif({g}.mi, ''), '00') <= '59' "
            f"and coalesce(nullif({g}.s, ''), '00') <= '59' "
            f"and ({g}.tz in ('', 'Z') or (try_cast({g}.tz[2:3] as integer) <= 23 "
            f"and coalesce(try_cast(nullif(replace({g}.tz[4:], ':', ''), '') as integer), 0) <= 59))))"
        )
        typed = (
            f"case when nullif({v}, '') is not null then "
            f"try_cast({day} || ' ' || {clock} as timestamp) - to_minutes({offset}) end"
        )
        return (
            ok,
            typed,
            "a timestamp YYYY-MM-DD HH:MM:SS (optionally .ffffff and a UTC offset)",
        )
    if c.type == BOOLEAN:
        return (
            f"(nullif({v}, '') is null or {v} in ('true', 'false'))",
            f"(nullif({v}, '') = 'true')",
            "true or false",
        )
    # text
    return (
        f"(strpos(coalesce({v}, ''), chr(0)) = 0 and strlen(coalesce({v}, '')) <= "
        f"{MAX_TEXT_BYTES})",
        v,
        f"text without NUL bytes, at most {MAX_TEXT_BYTES // 1024 // 1024} MiB",
    )


def _parse_checked(con, file, contract, check, data, cols) -> ParsedFile:
    n_fields = len(check.header)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_fields)) + "}"
    header = data[: data.find(b"\n")] if b"\n" in data else data
    pieces: list[tuple[str, str]] = []  # (parsed temp table, SQL of each row's line number)
    cleanup: list = []
    rejects: list[Reject] = []
    path, physical = file.path, np.arange(2, check.data_lines + 2, dtype=np.int64)
    tmp_dir = None
    try:
        empty = _empty_lines(data)
        if b"\r" in data or len(empty):
            # DuckDB's reader takes one line ending per file and skips empty lines: it reads a
            # copy with LF endings (CRLF may be mixed with LF; bare CRs failed the file earlier)
            # and without the empty lines, which are rejected here with their line numbers
            tmp_dir = tempfile.TemporaryDirectory(prefix="ingest-")
            cleanup.append(tmp_dir.cleanup)
            path = Path(tmp_dir.name) / "lf.csv"
            text = data.replace(b"\r\n", b"\n")
            if len(empty):
                kept = np.setdiff1d(physical, empty)
                lines = _lines(data, [1, *kept.tolist()])
                text = b"".join(lines[ln].encode("utf-8", "surrogateescape") + b"\n"
                                for ln in [1, *kept.tolist()])  # fmt: skip
                rejects += [
                    Reject(int(ln), None, f"wrong field count: an empty line ({n_fields} fields "
                           "expected)", "")
                    for ln in empty
                ]  # fmt: skip
                physical = kept
            path.write_bytes(text)
        while True:
            raw, line_sql, bad, swallowed, registered = _scan(
                con, path, columns, physical, file.path, check.header
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
        # DuckDB tolerates trailing empty fields past the header; the contract does not.
        excluded = _trailing_fields(data, n_fields, {r.line for r in rejects})
        rejects += excluded
        excluded_lines = {r.line for r in excluded}
        checked = []
        for raw, line_sql in pieces:
            table, value_rejects = _check_values(con, raw, line_sql, contract, cols, data)
            cleanup.append(lambda t=table: con.execute(f"drop table if exists {t}"))
            rejects += [r for r in value_rejects if r.line not in excluded_lines]
            checked.append((table, line_sql))
    except BaseException:
        for step in cleanup:
            step()
        raise
    keep = ""
    if excluded:
        name = f"_excluded_{next(_ids)}"
        con.register(name, pa.table({"line": np.array(sorted(excluded_lines), np.int64)}))
        cleanup.append(lambda: con.unregister(name))
        keep = f" and {{line}} not in (select line from {name})"
    rejects.sort(key=lambda r: r.line)
    names = ", ".join(quote_ident(c.name) for c in cols)
    source = " union all ".join(
        f"(select {', '.join(f'r.{quote_ident(c.name)}' for c in cols)}, "
        f"{_line_expr(line_sql)} as _source_line from {_from(table, line_sql)} "
        f"where r._bad is null{keep.format(line=_line_expr(line_sql))})"
        for table, line_sql in checked
    )
    return ParsedFile(
        file,
        contract,
        check,
        con,
        check.data_lines - len(rejects),
        rejects,
        source=f"({source}) as good",
        columns=names,
        cleanup=cleanup,
        path="checked",
    )


def _check_values(con, raw: str, line_sql: str, contract: TableContract, cols: list[_Col], data):
    """Apply the value rules to every text field of ``raw``: a table with ``rowid_``, the typed
    contract columns and ``_bad`` (index of the first failing check, null when the row is good),
    and the rejects of the rows that fail."""
    checked = f"_chk_{next(_ids)}"
    extras, typed, checks = [], [], []
    for c in cols:
        if c.position is None:
            typed.append(f"cast(null as {_duck_sql_type(c.type)}) as {quote_ident(c.name)}")
            continue
        v = f"c{c.position}"
        if c.type == TIMESTAMP:
            extras.append(f"regexp_extract(coalesce({v}, ''), '{_TS}', {_TS_PARTS!r}) as {v}__ts")
        ok, value, expected = _rule(c, v)
        typed.append(f"{value} as {quote_ident(c.name)}")
        checks.append((c, f"not {ok}", expected))
    for k in contract.primary_key:
        c = next(c for c in cols if c.name == k)
        checks.append((c, f"{quote_ident(c.name)} is null", None))  # the typed value
    bad = " ".join(f"when {cond} then {i}" for i, (_, cond, _) in enumerate(checks))
    inner = ", ".join(["rowid as rowid_", "*", *extras])
    con.execute(
        f"create temp table {checked} as select r.rowid_, {', '.join(typed)}, "
        f"case {bad} end as _bad from (select {inner} from {raw}) r order by r.rowid_"
    )
    present = [c for c in cols if c.position is not None]
    rows = con.execute(
        f"select k.rowid_, k._bad, {', '.join(f'r.c{c.position}' for c in present)} "
        f"from {checked} k join (select rowid as rowid_, * from {raw}) r using (rowid_) "
        f"where k._bad is not null order by k.rowid_"
    ).fetchall()
    out: list[Reject] = []
    if rows:
        lines = _row_lines(con, line_sql, [r[0] for r in rows])
        raw_text = _lines(data, sorted(set(lines.values())))
        for rowid, index, *values in rows:
            c, _, expected = checks[index]
            line = lines[rowid]
            if expected is None:
                reason = f"null key: {c.name} is empty"
            else:
                value = values[present.index(c)]
                reason = (
                    f"value does not parse: column {c.name} ({c.type}): "
                    f"{_show_value(contract, c.name, value)} is not {expected}"
                )
            out.append(Reject(line, c.name, reason, raw_text[line][:10_000]))
    return checked, out


def _show_value(contract: TableContract, column: str, value) -> str:
    if column in contract.pii:
        return "(a personal value, not shown)"
    return repr(shown(value if value is not None else "", 40))


def _row_lines(con, line_sql: str, rowids: list[int]) -> dict[int, int]:
    kind, value = line_sql.split(":", 1)
    if kind == "rowid":
        return {r: r + int(value) for r in rowids}
    lines = con.execute(f"select _source_line from {value} order by idx").fetchnumpy()
    return {r: int(lines["_source_line"][r]) for r in rowids}


def _duck_sql_type(type_: str) -> str:
    return type_.upper()


def _scan(con, path: Path, columns: str, physical: np.ndarray, origin: Path, header: list[str]):
    """Split one CSV into text fields in a temp table; map its records to physical line numbers.

    Returns (table, line numbering of its good rows, rejects, swallowed line numbers, registered).
    """
    n = next(_ids)
    raw, rej, scan, lines = f"_raw_{n}", f"_rej_{n}", f"_scan_{n}", f"_lines_{n}"
    try:
        con.execute(
            f"""
            create or replace temp table {raw} as
            select * from read_csv(?, header = false, skip = 1, delim = ',', quote = '"',
                escape = '"', columns = {columns}, auto_detect = false,
                strict_mode = true, ignore_errors = true, store_rejects = true,
                rejects_table = '{rej}', rejects_scan = '{scan}', null_padding = false,
                encoding = 'utf-8', max_line_size = {MAX_LINE_BYTES})""",
            [str(path)],
        )
    except duckdb.Error as exc:
        raise FileProblem(origin, f"cannot be parsed as CSV ({_first_line(exc)})") from None
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
        bad, swallowed = _parse_rejects(con, rej, physical, header)
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
    con.register(
        lines,
        pa.table({"idx": np.arange(len(good_lines), dtype=np.int64), "_source_line": good_lines}),
    )
    return raw, f"join:{lines}", bad, swallowed, lines


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _line_expr(line_sql: str) -> str:
    kind, value = line_sql.split(":", 1)
    return f"(r.rowid_ + {value})" if kind == "rowid" else "l._source_line"


def _from(table: str, line_sql: str) -> str:
    kind, value = line_sql.split(":", 1)
    if kind == "rowid":
        return f"{table} r"
    return f"{table} r join {value} l on l.idx = r.rowid_"


def _parse_rejects(
    con, rej: str, physical: np.ndarray, header: list[str]
) -> tuple[list[Reject], list[int]]:
    """One reject per rejected record (its first error, by column) and the lines it swallowed.

    DuckDB numbers records, not lines: a record that swallowed k more lines counts as one, so
    later numbers are shifted back by k; ``physical`` maps data records to file lines.
    """
    rows = con.execute(f"""
        select line, arg_min(column_idx, column_idx), arg_min(error_type, column_idx)::varchar,
               arg_min(error_message, column_idx), any_value(csv_line)
        from {rej} group by line order by line""").fetchall()
    out: list[Reject] = []
    swallowed: list[int] = []
    shift = 0
    for reported, column_idx, kind, message, csv_line in rows:
        index = int(reported) - 2 + shift  # 0-based data record, header excluded
        line = int(physical[index])
        text = csv_line if isinstance(csv_line, str) else ""
        text = text.replace("\x00", "\\x00")
        label = _KIND.get(kind, str(kind).lower())
        first = _first_line(message) if message else ""
        if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            reason = f"{label}: {first}"
        elif kind == "LINE SIZE OVER MAXIMUM":
            reason = f"{label}: a line longer than {MAX_LINE_BYTES:,} bytes"
        else:
            reason = f"{label}: {first}" if first else label
        parts = text.split("\n")
        column = None
        if kind not in ("MISSING COLUMNS", "TOO MANY COLUMNS") and column_idx:
            position = int(column_idx) - 1  # 1-based; c0, c1... in the order of the header
            if 0 <= position < len(header):
                column = shown(header[position])
        out.append(Reject(line, column, reason, parts[0][:10_000]))
        extra = len(parts) - 1 if kind == "UNQUOTED VALUE" else 0
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
            try:
                fields = next(csv.reader([text[ln]]), [])
            except csv.Error:
                continue  # DuckDB's verdict on this line stands
            if len(fields) != n_fields:
                out.append(
                    Reject(
                        ln,
                        None,
                        f"wrong field count: expected {n_fields} fields, found {len(fields)}",
                        text[ln][:10_000],
                    )
                )
    return out


def _empty_lines(data: bytes) -> np.ndarray:
    """1-based numbers of the data lines (after the header) that are empty."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    if len(ends) < 2:
        return np.array([], np.int64)
    starts = ends[:-1] + 1
    length = ends[1:] - starts
    crlf_empty = (length == 1) & (
        np.frombuffer(data, np.uint8)[np.minimum(starts, len(data) - 1)] == 13
    )
    return (np.flatnonzero((length == 0) | crlf_empty) + 2).astype(np.int64)


def _lines(data: bytes, wanted: list[int]) -> dict[int, str]:
    """Raw text of the given 1-based physical lines (invalid UTF-8 replaced)."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    out = {}
    for line in wanted:
        start = 0 if line == 1 else int(ends[line - 2]) + 1
        stop = int(ends[line - 1]) if line - 1 < len(ends) else len(data)
        # NUL bytes shown escaped: PostgreSQL text cannot hold them, and the raw text must be
        # the same on every engine
        text = data[start:stop].decode("utf-8", "replace").rstrip("\r")
        out[line] = text.replace("\x00", "\\x00") if "\x00" in text else text
    return out
