"""Faults on demand: bad rows and bad days injected into the clean landing zone.

Every injected fault is recorded in ``_faults.json`` with the file, the line number in that file
(the header is line 1), the column and the value written, and the ``stage`` expected to catch it:

| fault | what is written | stage |
| --- | --- | --- |
| ``duplicate_key`` | an exact copy of a row, later in the same file | quality |
| ``null_key`` | a primary-key field left empty | ingestion |
| ``null_required`` | a required non-key field left empty | quality |
| ``unparseable_value`` | ``"12,5"`` or ``N/A`` in a number column, ``2026-13-40`` in a date column | ingestion |
| ``wrong_field_count`` | a row with one field missing or one extra | ingestion |
| ``unclosed_quote`` | a text field that opens a quote and never closes it | ingestion |
| ``volume_drop`` | one day with only 30% of the usual orders | quality |
| ``schema_drift`` | one orders file with an unexpected extra column ``coupon_code`` | ingestion |
| ``late_arrival`` | orders (and their lines) written 2-5 days after the day they were placed | quality |

Row faults hit about ``rate`` of the rows of each file of the transactional tables, never two on
one row; each requested fault appears at least once.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from ingestion.contracts import BIGINT, BOOLEAN, CONTRACTS, DATE, INTEGER, TIMESTAMP, VARCHAR

from .census import Census
from .frames import Cat, DayRows, concat_rows, take_rows

FAULTS: tuple[str, ...] = (
    "duplicate_key",
    "null_key",
    "null_required",
    "unparseable_value",
    "wrong_field_count",
    "unclosed_quote",
    "volume_drop",
    "schema_drift",
    "late_arrival",
)
STAGE: dict[str, str] = {
    "duplicate_key": "quality",
    "null_key": "ingestion",
    "null_required": "quality",
    "unparseable_value": "ingestion",
    "wrong_field_count": "ingestion",
    "unclosed_quote": "ingestion",
    "volume_drop": "quality",
    "schema_drift": "ingestion",
    "late_arrival": "quality",
}
ROW_FAULTS: tuple[str, ...] = FAULTS[:6]
ROW_FAULT_TABLES: tuple[str, ...] = (
    "orders",
    "order_lines",
    "shipments",
    "returns",
    "customers",
    "quality_inspections",
    "waste_events",
    "delivery_feedback",
)
DRIFT_COLUMN = "coupon_code"
VOLUME_DROP_FACTOR = 0.3
NUMERIC = (BIGINT, INTEGER)


def parse_fault_names(text: str | None) -> tuple[str, ...]:
    """``"all"``, ``""``/``None`` or a comma list of fault names, validated."""
    if not text or text == "none":
        return ()
    if text == "all":
        return FAULTS
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise ValueError(
            f"unknown fault(s) {', '.join(unknown)}; choose from: all, {', '.join(FAULTS)}"
        )
    return names


def _eligible_columns(table: str, fault: str) -> list[str]:
    c = CONTRACTS[table]
    key = set(c.primary_key)
    if fault == "null_key":
        return list(c.primary_key)
    if fault == "null_required":
        return [n for n in c.required_columns if n not in key]
    if fault == "unparseable_value":
        return [col.name for col in c.columns if col.type != VARCHAR and col.name not in key]
    if fault == "unclosed_quote":
        return [col.name for col in c.columns if col.type == VARCHAR and col.name not in key]
    return [""]  # duplicate_key, wrong_field_count: the whole row


@dataclass
class RowFault:
    fault: str
    column: str
    variant: int


@dataclass
class FaultPlan:
    names: tuple[str, ...]
    rate: float
    seed: int
    start: date
    days: int
    volume_drop_day: int | None = None
    drift_day: int | None = None
    rows: dict[tuple[str, int], dict[int, RowFault]] = field(default_factory=dict)
    moves: dict[int, dict[int, int]] = field(default_factory=dict)  # day -> order id -> to day
    late_in: dict[tuple[str, int], int] = field(default_factory=dict)  # rows moved into a file
    late_out: dict[tuple[str, int], int] = field(default_factory=dict)  # rows moved out of one
    records: list[dict] = field(default_factory=list)
    _held: dict[tuple[str, int], list[DayRows]] = field(default_factory=dict)

    @classmethod
    def create(cls, names, rate, seed, start, days) -> FaultPlan:
        plan = cls(tuple(names), rate, seed, start, days)
        rng = np.random.default_rng([seed, 404])
        if "volume_drop" in names:
            lo = min(max(14, days // 2), days - 1)
            plan.volume_drop_day = int(rng.integers(lo, days)) if days > 1 else 0
        if "schema_drift" in names:
            choices = [d for d in range(1, days) if d != plan.volume_drop_day] or [0]
            plan.drift_day = int(rng.choice(choices))
        return plan

    def file(self, table: str, day: int) -> str:
        return f"{table}/{(self.start + timedelta(days=day)).isoformat()}.csv"

    def needs_census(self) -> bool:
        """Whether planning needs counts of the whole run (``Census``): late arrivals choose among
        all orders, and a row fault chance left out is put into a file drawn from all files."""
        return "late_arrival" in self.names or any(f in self.names for f in ROW_FAULTS)

    def plan(self, census: Census) -> None:
        """Plan late arrivals and row faults from a dry run's counts."""
        self._plan_late(census)
        self._plan_rows(census)

    # ------------------------------------------------------------------ late arrival
    def _plan_late(self, census: Census) -> None:
        if "late_arrival" not in self.names:
            return
        # candidates: every order placed on days 1 .. days-3, in file order, which is id order
        first = 1 + int(census.placed[0])
        n = int(census.placed[1 : max(1, self.days - 2)].sum())
        if n == 0:
            return
        rng = np.random.default_rng([self.seed, 405])
        k = max(1, int(rng.binomial(n, self.rate)))
        for i in rng.choice(n, size=min(k, n), replace=False).tolist():
            o = first + int(i)
            lags = census.free_lags(o)
            if not lags:
                continue
            d = census.order_day(o)
            to = d + int(rng.choice(lags))
            self.moves.setdefault(d, {})[o] = to
            for table, rows in (("orders", 1), ("order_lines", census.order_lines(o))):
                self.late_in[(table, to)] = self.late_in.get((table, to), 0) + rows
                self.late_out[(table, d)] = self.late_out.get((table, d), 0) + rows

    def arrive(self, day: int, batch: dict[str, DayRows]) -> None:
        """Move this day's late orders (and their lines) out of its files, and put the ones
        moved to this day first in its files (they were placed on an earlier day)."""
        moves = self.moves.pop(day, {})
        for name in ("orders", "order_lines"):
            rows = batch[name]
            if moves and len(rows):
                oid = np.asarray(rows.sorted_column("order_id"))
                keys = np.array(sorted(moves), np.int64)
                at = np.minimum(np.searchsorted(keys, oid), len(keys) - 1)
                to_day = np.array([moves[k] for k in keys.tolist()], np.int64)
                target = np.where(keys[at] == oid, to_day[at], -1)
                if name == "orders":
                    status = rows.sorted_column("status")
                    assert isinstance(status, Cat)
                    target[status.codes != 0] = -1
                for to in sorted(set(target.tolist()) - {-1}):
                    part = take_rows(rows, np.flatnonzero(target == to))
                    part.late = np.full(len(part), day, np.int64)
                    self._held.setdefault((name, to), []).append(part)
                rows = take_rows(rows, np.flatnonzero(target == -1))
            held = self._held.pop((name, day), [])
            if held or rows is not batch[name]:
                batch[name] = concat_rows(rows.contract, [*held, rows])
        if day == self.volume_drop_day:
            for table in ("orders", "order_lines"):
                self.record(
                    fault="volume_drop",
                    table=table,
                    file=self.file(table, day),
                    line=None,
                    column=None,
                    key=None,
                    value=None,
                    detail=f"day written with {len(batch[table])} rows, about "
                    f"{VOLUME_DROP_FACTOR:.0%} of a normal day's new orders",
                )

    # ------------------------------------------------------------------ row faults
    def _plan_rows(self, census: Census) -> None:
        row_faults = [f for f in ROW_FAULTS if f in self.names]
        if not row_faults:
            return
        files: list[tuple[str, int, np.ndarray]] = []
        for ti, table in enumerate(ROW_FAULT_TABLES):
            for d in range(self.days):
                late = self.late_in.get((table, d), 0)
                n = int(census.rows[table][d]) - self.late_out.get((table, d), 0) + late
                if n == 0:
                    continue
                free = np.arange(late, n)  # late rows come first in a file; they get no fault
                rng = np.random.default_rng([self.seed, 406, ti, d])
                files.append((table, d, free))
                chosen = self.rows.setdefault((table, d), {})
                for fault in row_faults:
                    cols = _eligible_columns(table, fault)
                    if not cols:
                        continue
                    k = int(rng.binomial(len(free), self.rate))
                    self._assign(rng, chosen, free, fault, cols, k)
        rng = np.random.default_rng([self.seed, 407])
        for fault in row_faults:
            if any(rf.fault == fault for plan in self.rows.values() for rf in plan.values()):
                continue
            options = [
                (t, d, free)
                for t, d, free in files
                if _eligible_columns(t, fault) and len(free) > len(self.rows[(t, d)])
            ]
            if not options:
                continue
            t, d, free = options[int(rng.integers(len(options)))]
            self._assign(rng, self.rows[(t, d)], free, fault, _eligible_columns(t, fault), 1)

    @staticmethod
    def _assign(
        rng, chosen: dict[int, RowFault], free: np.ndarray, fault: str, cols: list[str], k: int
    ) -> None:
        if k <= 0:
            return
        pool = free[~np.isin(free, np.fromiter(chosen, np.int64, len(chosen)))]
        if len(pool) == 0:
            return
        for r in rng.choice(pool, size=min(k, len(pool)), replace=False).tolist():
            chosen[int(r)] = RowFault(
                fault, cols[int(rng.integers(len(cols)))], int(rng.integers(2))
            )

    # ------------------------------------------------------------------ writing
    def record(self, **entry) -> None:
        entry.setdefault("stage", STAGE[entry["fault"]])
        self.records.append(entry)

    def edit(
        self, table: str, day: int, rows: DayRows, header: bytes, body: bytes
    ) -> tuple[bytes, bytes]:
        """Apply this file's faults to the clean CSV text; returns (header, body)."""
        planned = self.rows.get((table, day), {})
        late = dict(enumerate(rows.late.tolist()))
        drift = table == "orders" and day == self.drift_day
        if not planned and not late and not drift:
            return header, body
        contract = CONTRACTS[table]
        types = [c.type for c in contract.columns]
        lines = body.split(b"\n")[:-1]
        rng = np.random.default_rng([self.seed, 408, day, len(lines)])
        # (line, notes, row it is, row it copies): a duplicate is no row of its own
        out: list[tuple[bytes, list[dict], int | None, int]] = []
        after: dict[int, list[tuple[bytes, dict]]] = {}
        for i, line in enumerate(lines):
            notes: list[dict] = []
            key = {k: _py(rows.sorted_column(k), i) for k in contract.primary_key}
            if i in late:
                placed = (self.start + timedelta(days=late[i])).isoformat()
                notes.append(
                    dict(
                        fault="late_arrival",
                        table=table,
                        column=None,
                        key=key,
                        value=None,
                        detail=f"belongs to the {placed} batch ({day - late[i]} days late)",
                    )
                )
            rf = planned.get(i)
            if rf is not None:
                line, note = self._edit_line(rf, line, contract, types, i, key, table)
                if rf.fault == "duplicate_key":
                    j = int(rng.integers(i, len(lines)))
                    after.setdefault(j, []).append((line, note))
                else:
                    notes.append(note)
            out.append((line, notes, i, i))
            for dup_line, dup_note in after.pop(i, []):
                out.append((dup_line, [dup_note], None, dup_note["_row"]))
        if drift:
            header = header.rstrip(b"\n") + b"," + DRIFT_COLUMN.encode() + b"\n"
            coupon = rng.random(len(lines)) < 0.1
            out = [
                (ln + (b',"SAVE10"' if coupon[src] else b","), notes, orig, src)
                for ln, notes, orig, src in out
            ]
            self.record(
                fault="schema_drift",
                table=table,
                file=self.file(table, day),
                line=1,
                column=DRIFT_COLUMN,
                key=None,
                value=DRIFT_COLUMN,
                detail=f"unexpected extra column {DRIFT_COLUMN!r} at the end of every row",
            )
        line_of = {orig: n + 2 for n, (_, _, orig, _) in enumerate(out) if orig is not None}
        for n, (_, notes, _, _) in enumerate(out):
            for note in notes:
                if note["fault"] == "duplicate_key":
                    note["detail"] = f"exact copy of line {line_of[note.pop('_row')]}"
                self.record(file=self.file(table, day), line=n + 2, **note)
        return header, b"".join(line + b"\n" for line, _, _, _ in out)

    def _edit_line(self, rf: RowFault, line: bytes, contract, types, i, key, table):
        fields = next(csv.reader([line.decode("utf-8")]))
        names = contract.column_names
        raw = [_quote(v) if types[k] == VARCHAR and v != "" else v for k, v in enumerate(fields)]
        note = dict(fault=rf.fault, table=table, column=rf.column or None, key=key)
        if rf.fault == "duplicate_key":
            note.update(value=None, _row=i)
            return line, note
        if rf.fault == "wrong_field_count":
            if rf.variant == 0:
                raw = raw[:-1]
                note.update(value=None, detail=f"{len(raw)} fields instead of {len(names)}")
            else:
                raw = [*raw, '"EXTRA"']
                note.update(value="EXTRA", detail=f"{len(raw)} fields instead of {len(names)}")
            return ",".join(raw).encode(), note
        k = names.index(rf.column)
        if rf.fault in ("null_key", "null_required"):
            raw[k] = ""
            note.update(value="", detail=f"{rf.column} is empty")
        elif rf.fault == "unparseable_value":
            if types[k] in (DATE, TIMESTAMP):
                value = "2026-13-40"
            elif types[k] == BOOLEAN or rf.variant == 1:
                value = "N/A"
            else:
                value = "12,5"
            raw[k] = _quote(value) if "," in value else value
            note.update(value=value, detail=f"{value!r} is not a valid {types[k]}")
        elif rf.fault == "unclosed_quote":
            value = fields[k].replace('"', "") or "missing"
            raw[k] = '"' + value
            note.update(value='"' + value, detail=f"quote opened in {rf.column} is never closed")
        return ",".join(raw).encode(), note


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _py(col, i: int):
    if isinstance(col, Cat):
        code = int(col.codes[i])
        return col.pool[code] if code >= 0 else None
    v = col[i]
    return v.item() if hasattr(v, "item") else v
