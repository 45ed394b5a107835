"""Columnar buffers for generated rows, and their conversion to Arrow per the table contracts.

Rows are produced a day at a time as NumPy arrays and appended as chunks to a ``TableBuffer``.
Each row carries the day index of the batch it arrives in (``day``), a time used to order rows
inside a file (``t``) and a flag (``flag``: 1 marks rows moved by the ``late_arrival`` fault).

Column values are plain NumPy arrays (numbers; ``NULL`` marks a missing number), object arrays of
Python strings (``None`` is missing), or ``Cat`` (integer codes into a fixed pool of strings).
Numbers are held the way they are written: money in cents, kilograms in grams, timestamps as Unix
seconds, dates as days since 1970-01-01.
"""

from __future__ import annotations

from dataclasses import dataclass

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


class TableBuffer:
    """All rows of one table, gathered day by day, then sorted by (arrival day, time)."""

    def __init__(self, contract: TableContract):
        self.contract = contract
        self._chunks: list[tuple[np.ndarray, np.ndarray, dict[str, Column]]] = []
        self.day: np.ndarray = np.empty(0, np.int64)
        self.t: np.ndarray = np.empty(0, np.int64)
        self.flag: np.ndarray = np.empty(0, np.int8)
        self.columns: dict[str, Column] = {}
        self.order: np.ndarray | None = None
        self._sorted: dict[str, Column] = {}

    def append(self, day: np.ndarray | int, t: np.ndarray, columns: dict[str, Column]) -> None:
        n = len(t)
        if n == 0:
            return
        missing = set(self.contract.column_names) - set(columns)
        extra = set(columns) - set(self.contract.column_names)
        if missing or extra:
            raise ValueError(
                f"{self.contract.name}: generated columns do not match the contract "
                f"(missing {sorted(missing)}, extra {sorted(extra)})"
            )
        for name, col in columns.items():
            if len(col) != n:
                raise ValueError(f"{self.contract.name}.{name}: {len(col)} values for {n} rows")
        day_arr = np.full(n, day, np.int64) if np.isscalar(day) else np.asarray(day, np.int64)
        self._chunks.append((day_arr, np.asarray(t, np.int64), columns))

    def finish(self, days: int) -> None:
        """Concatenate the chunks, drop rows that arrive after the last day, sort."""
        if not self._chunks:
            self.columns = {}
            return
        day = np.concatenate([c[0] for c in self._chunks])
        t = np.concatenate([c[1] for c in self._chunks])
        cols = {
            name: _concat([c[2][name] for c in self._chunks]) for name in self.contract.column_names
        }
        self._chunks = []
        keep = day < days
        if not keep.all():
            idx = np.flatnonzero(keep)
            day, t = day[idx], t[idx]
            cols = {name: _take(col, idx) for name, col in cols.items()}
        self.day, self.t, self.columns = day, t, cols
        self.flag = np.zeros(len(day), np.int8)
        self.order = None
        self.resort()

    def resort(self) -> None:
        """Order rows by (arrival day, time).

        Only ``day``, ``t`` and ``flag`` are reordered here; the columns keep their generation
        order and ``order`` maps sorted positions to them, so the big gathers happen per file in
        Arrow, on the writer threads.
        """
        self._sorted.clear()
        if len(self.day) == 0:
            return
        key = self.day * (1 << 40) + (self.t - self.t.min())
        if np.all(key[1:] >= key[:-1]):
            return
        perm = np.argsort(key, kind="stable")
        self.day, self.t, self.flag = self.day[perm], self.t[perm], self.flag[perm]
        self.order = perm if self.order is None else self.order[perm]

    def sorted_column(self, name: str) -> Column:
        """A column in (day, time) order (materialized on first use)."""
        if name not in self._sorted:
            col = self.columns[name]
            self._sorted[name] = col if self.order is None else _take(col, self.order)
        return self._sorted[name]

    def __len__(self) -> int:
        return len(self.day)

    def day_bounds(self, days: int) -> np.ndarray:
        """Row offsets of each day's slice: rows of day d are ``[b[d], b[d+1])``."""
        return np.searchsorted(self.day, np.arange(days + 1), side="left")

    def to_arrow(self) -> pa.Table:
        """All rows in generation order; ``rows(table, lo, hi)`` picks a day's slice."""
        arrays = [_to_arrow(self.columns[c.name], c.type) for c in self.contract.columns]
        return pa.Table.from_arrays(arrays, names=self.contract.column_names)

    def rows(self, table: pa.Table, lo: int, hi: int) -> pa.Table:
        """Sorted rows ``[lo, hi)`` of ``table`` (as made by ``to_arrow``)."""
        if self.order is None:
            return table.slice(lo, hi - lo)
        return table.take(pa.array(self.order[lo:hi]))


def _validity(values: np.ndarray) -> tuple[np.ndarray | None, pa.Buffer | None]:
    mask = values == NULL
    if not mask.any():
        return None, None
    return mask, pa.array(~mask).buffers()[1]


def _cat_to_arrow(col: Cat) -> pa.Array:
    codes = col.codes.astype(np.int32, copy=False)
    mask = codes < 0
    indices = pa.array(np.where(mask, 0, codes), mask=mask if mask.any() else None)
    return pa.DictionaryArray.from_arrays(indices, pa.array(col.pool, pa.string()))


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
