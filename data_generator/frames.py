"""Columnar buffers for generated rows, and their conversion to Arrow per the table contracts.

Rows are produced a day at a time as NumPy arrays and appended as chunks to a ``PendingRows``,
each row with the day index of the batch it arrives in and a time used to order rows inside a
file (``t``). Once a day is simulated, its rows leave as a ``DayRows``: one landing file.

Column values are plain NumPy arrays (numbers; ``NULL`` marks a missing number), object arrays of
Python strings (``None`` is missing), or ``Cat`` (integer codes into a fixed pool of strings).
Numbers are held the way they are written: money in cents, kilograms in grams, timestamps as Unix
seconds, dates as days since 1970-01-01.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.contracts import (
    BIGINT,
    BOOLEAN,
    DATE,
    INTEGER,
    TIMESTAMP,
    VARCHAR,
    TableContract,
    decimal_parts,
)

NULL = np.iinfo(np.int64).min
LEVELS = (1, 2, 4, 8, 16, 32, 64)  # days ahead where pending rows are cut into separate arrays


@dataclass
class Cat:
    """Strings stored as codes into ``pool``; a negative code is a missing value."""

    codes: np.ndarray
    pool: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.codes)


@dataclass
class Fmt:
    """Text built at write time from parts: literals, ``Cat`` codes and zero-padded integers.

    ``Fmt(("+1-", area, "-555-", (line, 4)))`` writes ``+1-212-555-0042``; building the strings in
    Arrow instead of Python keeps formatting millions of rows fast.
    """

    parts: tuple
    lower: bool = False
    null: np.ndarray | None = None

    def __len__(self) -> int:
        for p in self.parts:
            if not isinstance(p, str):
                return len(p[0] if isinstance(p, tuple) else p)
        raise ValueError("Fmt needs at least one column part")

    def map(self, fn) -> Fmt:
        parts = tuple(
            p
            if isinstance(p, str)
            else (fn(p[0]), p[1])
            if isinstance(p, tuple)
            else Cat(fn(p.codes), p.pool)
            if isinstance(p, Cat)
            else fn(p)
            for p in self.parts
        )
        return Fmt(parts, self.lower, None if self.null is None else fn(self.null))


Column = np.ndarray | Cat | Fmt


def _concat(parts: list[Column]) -> Column:
    first = parts[0]
    if isinstance(first, Cat):
        return Cat(np.concatenate([p.codes for p in parts]), first.pool)
    if isinstance(first, Fmt):
        merged = []
        for i, part in enumerate(first.parts):
            if isinstance(part, str):
                merged.append(part)
            elif isinstance(part, tuple):
                merged.append((np.concatenate([p.parts[i][0] for p in parts]), part[1]))
            elif isinstance(part, Cat):
                merged.append(Cat(np.concatenate([p.parts[i].codes for p in parts]), part.pool))
            else:
                merged.append(np.concatenate([p.parts[i] for p in parts]))
        null = None
        if any(p.null is not None for p in parts):
            null = np.concatenate(
                [p.null if p.null is not None else np.zeros(len(p), bool) for p in parts]
            )
        return Fmt(tuple(merged), first.lower, null)
    return np.concatenate(parts)


def _take(col: Column, idx) -> Column:
    if isinstance(col, Cat):
        return Cat(col.codes[idx], col.pool)
    if isinstance(col, Fmt):
        return col.map(lambda a: a[idx])
    return col[idx]


@dataclass
class DayRows:
    """One table's rows arriving on one day: the rows of one landing file.

    ``columns`` hold the rows in generation order and ``order`` maps file positions to them
    (``None`` when generation order is already file order), so the gather happens once, in
    Arrow, on the writer thread. ``late`` holds, for the first ``len(late)`` rows of the file,
    the day each of them really belongs to (rows moved by the ``late_arrival`` fault).
    """

    contract: TableContract
    t: np.ndarray
    columns: dict[str, Column]
    order: np.ndarray | None = None
    late: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self) -> None:
        self._sorted: dict[str, Column] = {}

    def __getstate__(self) -> dict:
        # for a writer process: no sorting cache, and ``t`` only for its length
        state = {k: v for k, v in self.__dict__.items() if k not in ("_sorted", "t")}
        state["rows"] = len(self.t)
        return state

    def __setstate__(self, state: dict) -> None:
        t = np.zeros(state.pop("rows"), np.int64)
        self.__dict__.update(state, t=t, _sorted={})

    def __len__(self) -> int:
        return len(self.t)

    def sorted_column(self, name: str) -> Column:
        """A column in file order (materialized on first use)."""
        if name not in self._sorted:
            col = self.columns[name]
            self._sorted[name] = col if self.order is None else _take(col, self.order)
        return self._sorted[name]

    def between(self, lo: int, hi: int) -> DayRows:
        """File rows ``lo`` to ``hi`` on their own, in file order."""
        if self.order is None:
            cols = {name: _slice(col, lo, hi) for name, col in self.columns.items()}
        else:
            idx = self.order[lo:hi]
            cols = {name: _take(col, idx) for name, col in self.columns.items()}
        return DayRows(self.contract, np.zeros(hi - lo, np.int64), cols)

    def in_file_order(self) -> DayRows:
        """The same rows with every column gathered into file order."""
        if self.order is None:
            return self
        cols = {name: self.sorted_column(name) for name in self.contract.column_names}
        return DayRows(self.contract, self.t[self.order], cols, None, self.late)

    def to_arrow(self) -> pa.Table:
        """The rows in file order, typed per the contract."""
        arrays = [_to_arrow(self.columns[c.name], c.type) for c in self.contract.columns]
        table = pa.Table.from_arrays(arrays, names=self.contract.column_names)
        return table if self.order is None else table.take(pa.array(self.order))


def arrow_days(contract: TableContract, parts: list[DayRows]) -> pa.Table | None:
    """Several files' rows as one Arrow table, file after file, each in file order: one
    conversion and one gather for a run of days instead of one per file (None: no rows)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0].to_arrow()
    cols = {n: _concat([p.columns[n] for p in parts]) for n in contract.column_names}
    order = None
    if any(p.order is not None for p in parts):
        offsets = np.cumsum([0] + [len(p) for p in parts])
        order = np.concatenate(
            [
                (np.arange(len(p)) if p.order is None else p.order) + offsets[i]
                for i, p in enumerate(parts)
            ]
        )
    return DayRows(contract, np.empty(0, np.int64), cols, order).to_arrow()


def concat_rows(contract: TableContract, parts: list[DayRows]) -> DayRows:
    """Rows of several parts one after the other, in file order (``late`` kept from each)."""
    parts = [p.in_file_order() for p in parts if len(p)]
    if not parts:
        return empty_rows(contract)
    if len(parts) == 1:
        return parts[0]
    cols = {n: _concat([p.columns[n] for p in parts]) for n in contract.column_names}
    late = np.concatenate([p.late for p in parts])
    return DayRows(contract, np.concatenate([p.t for p in parts]), cols, None, late)


def empty_rows(contract: TableContract) -> DayRows:
    return DayRows(contract, np.empty(0, np.int64), {})


def take_rows(rows: DayRows, idx: np.ndarray) -> DayRows:
    """Rows ``idx`` (file positions) of ``rows``, in that order."""
    rows = rows.in_file_order()
    cols = {name: _take(col, idx) for name, col in rows.columns.items()}
    return DayRows(rows.contract, rows.t[idx], cols)


class PendingRows:
    """Rows of one table waiting for the day they arrive on: the bounded horizon of the stream.

    A day's rows are made on that day or before it (a shipment on the day its order is placed,
    a return weeks ahead), so once day ``d`` is simulated, ``pop(d)`` returns all of them.
    Rows arriving on or after ``days`` are dropped at once, so memory holds only rows not yet
    popped, whatever the length of the run.

    An appended chunk is put in arrival-day order with one gather per column for each horizon
    level (``LEVELS``: 1, 2, 4 ... 64 days ahead, beyond); each day keeps a reference to its
    slice. A level's arrays go when its last day is popped, so rows are held at most about twice
    as long as they wait, and a rare delivery months ahead holds a few rows, not its chunk.
    """

    def __init__(self, contract: TableContract, days: int):
        self.contract = contract
        self.days = days
        self._names = set(contract.column_names)
        self._by_day: dict[int, list[tuple[np.ndarray, dict[str, Column], int, int]]] = {}
        self.pending = 0

    def append(self, day: np.ndarray | int, t: np.ndarray, columns: dict[str, Column]) -> None:
        n = len(t)
        if n == 0:
            return
        if set(columns) != self._names:
            raise ValueError(
                f"{self.contract.name}: generated columns do not match the contract "
                f"(missing {sorted(self._names - set(columns))}, "
                f"extra {sorted(set(columns) - self._names)})"
            )
        for name, col in columns.items():
            if len(col) != n:
                raise ValueError(f"{self.contract.name}.{name}: {len(col)} values for {n} rows")
        t = np.asarray(t, np.int64)
        if np.isscalar(day):
            self._add(int(day), t, columns, 0, n)
            return
        day = np.asarray(day, np.int64)
        first, last = int(day.min()), int(day.max())
        if first == last:
            self._add(first, t, columns, 0, n)
            return
        perm = stable_order(day, first, last)
        sorted_days = day[perm]
        ends = np.searchsorted(sorted_days, [first + ahead for ahead in LEVELS], side="right")
        lo = 0
        for hi in [*ends.tolist(), n]:
            if hi > lo and int(sorted_days[lo]) < self.days:
                idx = perm[lo:hi]
                self._add_sorted(
                    sorted_days[lo:hi], t[idx], {k: _take(c, idx) for k, c in columns.items()}
                )
            lo = hi

    def _add_sorted(self, days: np.ndarray, t: np.ndarray, columns: dict[str, Column]) -> None:
        cuts = (np.flatnonzero(days[1:] != days[:-1]) + 1).tolist()
        for lo, hi in zip([0, *cuts], [*cuts, len(days)], strict=True):
            self._add(int(days[lo]), t, columns, lo, hi)

    def _add(self, day: int, t: np.ndarray, columns: dict[str, Column], lo: int, hi: int) -> None:
        if day >= self.days:
            return
        self._by_day.setdefault(day, []).append((t, columns, lo, hi))
        self.pending += hi - lo

    def pop(self, day: int) -> DayRows:
        """Every row arriving on ``day``, ordered by time (ties in generation order)."""
        parts = self._by_day.pop(day, [])
        if not parts:
            return empty_rows(self.contract)
        if len(parts) == 1:
            t, cols, lo, hi = parts[0]
            t = t[lo:hi]
            cols = {name: _slice(col, lo, hi) for name, col in cols.items()}
        else:
            t = np.concatenate([p[0][p[2] : p[3]] for p in parts])
            cols = {name: _gather(parts, name) for name in self.contract.column_names}
        self.pending -= len(t)
        order = None
        if len(t) > 1 and not np.all(t[1:] >= t[:-1]):
            order = stable_order(t, int(t.min()), int(t.max()))
        return DayRows(self.contract, t, cols, order)


def _gather(parts: list[tuple[np.ndarray, dict[str, Column], int, int]], name: str) -> Column:
    """Column ``name`` of the slices ``parts``, one after the other."""
    first = parts[0][1][name]
    if isinstance(first, np.ndarray):
        return np.concatenate([cols[name][lo:hi] for _, cols, lo, hi in parts])
    if isinstance(first, Cat):
        codes = [cols[name].codes[lo:hi] for _, cols, lo, hi in parts]
        return Cat(np.concatenate(codes), first.pool)
    return _concat([_slice(cols[name], lo, hi) for _, cols, lo, hi in parts])


def _slice(col: Column, lo: int, hi: int) -> Column:
    if isinstance(col, Cat):
        return Cat(col.codes[lo:hi], col.pool)
    if isinstance(col, Fmt):
        return col.map(lambda a: a[lo:hi])
    return col[lo:hi]


def stable_order(keys: np.ndarray, low: int, high: int) -> np.ndarray:
    """``np.argsort(keys, kind="stable")``, faster: a radix sort when the keys span less than
    65,536 values, else a plain sort of the unique keys ``(key - low) * n + position``."""
    n = len(keys)
    span = high - low
    if span < 1 << 16:
        return np.argsort((keys - low).astype(np.uint16), kind="stable")
    if (span + 1) * n < 1 << 62:
        composite = (keys - low) * n + np.arange(n)
        composite.sort()
        return composite % n
    return np.argsort(keys, kind="stable")


def _validity(values: np.ndarray) -> tuple[np.ndarray | None, pa.Buffer | None]:
    mask = values == NULL
    if not mask.any():
        return None, None
    return mask, pa.array(~mask).buffers()[1]


_DICTIONARIES: dict[int, tuple[tuple[str, ...], pa.Array]] = {}


def _dictionary(pool: tuple[str, ...]) -> pa.Array:
    """The Arrow strings of a pool, made once per pool (pools are module or company constants)."""
    entry = _DICTIONARIES.get(id(pool))
    if entry is None or entry[0] is not pool:
        entry = _DICTIONARIES[id(pool)] = (pool, pa.array(pool, pa.string()))
    return entry[1]


def _cat_to_arrow(col: Cat) -> pa.Array:
    codes = col.codes.astype(np.int32, copy=False)
    if len(codes) and codes.min() < 0:
        mask = codes < 0
        indices = pa.array(np.where(mask, 0, codes), mask=mask)
    else:
        indices = pa.array(codes)
    return pa.DictionaryArray.from_arrays(indices, _dictionary(col.pool))


def _fmt_to_arrow(col: Fmt) -> pa.Array:
    n = len(col)
    parts = []
    for p in col.parts:
        if isinstance(p, str):
            parts.append(p)
        elif isinstance(p, Cat):
            parts.append(_cat_to_arrow(p).cast(pa.string()))
        elif isinstance(p, tuple):
            parts.append(pc.utf8_lpad(pa.array(p[0]).cast(pa.string()), width=p[1], padding="0"))
        else:
            parts.append(pa.array(p).cast(pa.string()))
    arr = pc.binary_join_element_wise(*parts, "")
    if col.lower:
        arr = pc.utf8_lower(arr)
    if col.null is not None and col.null.any():
        arr = pc.if_else(pa.array(col.null), pa.nulls(n, pa.string()), arr)
    return arr


def _to_arrow(col: Column, type_: str) -> pa.Array:
    if isinstance(col, Cat):
        return _cat_to_arrow(col)
    if isinstance(col, Fmt):
        return _fmt_to_arrow(col)
    if type_ == VARCHAR:
        return pa.array(col, pa.string(), from_pandas=True)
    if type_ == BOOLEAN:
        return pa.array(col.astype(bool, copy=False), pa.bool_())
    if type_ in (BIGINT, INTEGER):
        mask, _ = _validity(col)
        return pa.array(col, pa.int64(), mask=mask)
    if type_ == TIMESTAMP:
        mask, _ = _validity(col)
        return pa.array(col, pa.timestamp("s"), mask=mask)
    if type_ == DATE:
        return pa.array(col.astype(np.int32, copy=False), pa.date32())
    parts = decimal_parts(type_)
    if parts is None:
        raise ValueError(f"no Arrow conversion for type {type_!r}")
    precision, scale = parts
    values = np.asarray(col, np.int64)
    mask, validity = _validity(values)
    if mask is not None:
        values = np.where(mask, 0, values)
    # decimal128 stores the unscaled integer as two little-endian 64-bit words.
    words = np.empty(len(values) * 2, np.int64)
    words[0::2] = values
    words[1::2] = np.where(values < 0, -1, 0)
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale),
        len(values),
        [validity, pa.py_buffer(words)],
        null_count=-1 if mask is not None else 0,
    )
