"""A dry run of the company that keeps counts instead of rows, for planning faults up front.

Two faults choose among the rows of the whole run: ``late_arrival`` picks orders among every
order placed in it, and each row fault, when chance left it out of every file, is put into one
file drawn from all of them. To stream (write a day as soon as it is simulated) and still write
the same bytes as a run that held every row, ``generate`` first simulates the run once with
these counters as its tables; the plan is then made from the counts, and the second, streaming
pass applies it. Memory: a few bytes per order, nothing per row.
"""

from __future__ import annotations

import numpy as np

from ingestion.contracts import CONTRACTS

from .frames import Cat

LAGS = (2, 3, 4, 5)  # days a late order may be moved by


class _Grow:
    """A NumPy array indexed by order id, grown by doubling."""

    def __init__(self, dtype):
        self.data = np.zeros(1024, dtype)

    def reserve(self, size: int) -> None:
        if size > len(self.data):
            grown = np.zeros(max(size, 2 * len(self.data)), self.data.dtype)
            grown[: len(self.data)] = self.data
            self.data = grown


class _Counter:
    def __init__(self, census: Census, name: str):
        self.census = census
        self.name = name
        self.rows = census.rows[name]

    def append(self, day, t, columns) -> None:
        n = len(t)
        if n == 0:
            return
        days = self.census.days
        day = np.full(n, day, np.int64) if np.isscalar(day) else np.asarray(day, np.int64)
        self.rows += np.bincount(day[day < days], minlength=days)[:days]
        if self.name == "orders":
            self.census.orders(day, columns)
        elif self.name == "order_lines":
            self.census.lines(np.asarray(columns["order_id"]))


class Census:
    """Rows per table per arrival day (days before ``days``), and per order: its day, its number
    of lines, and which of the days 2-5 after it already carry a row of it (``busy`` bits)."""

    def __init__(self, days: int):
        self.days = days
        self.rows = {name: np.zeros(days, np.int64) for name in CONTRACTS}
        self.placed = np.zeros(days, np.int64)  # orders placed per day
        self.n_orders = 0
        self._day = _Grow(np.int32)
        self._busy = _Grow(np.uint8)
        self._lines = _Grow(np.uint8)

    def tables(self) -> dict[str, _Counter]:
        return {name: _Counter(self, name) for name in CONTRACTS}

    def orders(self, day: np.ndarray, columns) -> None:
        status = columns["status"]
        assert isinstance(status, Cat)
        oid = np.asarray(columns["order_id"], np.int64)
        new = status.codes == 0
        if new.any():
            ids = oid[new]
            expected = np.arange(self.n_orders + 1, self.n_orders + 1 + len(ids))
            if not np.array_equal(ids, expected) or len(set(day[new].tolist())) != 1:
                raise RuntimeError(
                    "census: placed orders are expected one day at a time with consecutive ids "
                    "(the late_arrival plan relies on it); data_generator/simulate.py changed"
                )
            d = int(day[new][0])
            self.n_orders += len(ids)
            for grow in (self._day, self._busy, self._lines):
                grow.reserve(self.n_orders)
            self._day.data[ids - 1] = d
            if d < self.days:
                self.placed[d] += len(ids)
        rest = ~new
        if rest.any():
            idx = oid[rest] - 1
            lag = day[rest] - self._day.data[idx]
            hit = (lag >= LAGS[0]) & (lag <= LAGS[-1])
            bits = np.left_shift(1, lag[hit] - LAGS[0]).astype(np.uint8)
            np.bitwise_or.at(self._busy.data, idx[hit], bits)

    def lines(self, order_id: np.ndarray) -> None:
        if len(order_id):
            lo = int(order_id.min())
            counts = np.bincount(order_id - lo)
            self._lines.reserve(lo + len(counts))
            self._lines.data[lo - 1 : lo - 1 + len(counts)] += counts.astype(np.uint8)

    def order_day(self, order_id: int) -> int:
        return int(self._day.data[order_id - 1])

    def order_lines(self, order_id: int) -> int:
        return int(self._lines.data[order_id - 1])

    def free_lags(self, order_id: int) -> list[int]:
        """Lags (2-5 days) on which the order has no row yet, within the run."""
        d, busy = self.order_day(order_id), int(self._busy.data[order_id - 1])
        return [lag for lag in LAGS if d + lag < self.days and not busy & (1 << (lag - LAGS[0]))]
