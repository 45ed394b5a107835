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

from .frames import Cat, TableBuffer

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
    late_from: dict[tuple[str, int], dict[int, int]] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)

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

    # ------------------------------------------------------------------ late arrival
    def apply_late_arrival(self, tables: dict[str, TableBuffer]) -> None:
        if "late_arrival" not in self.names:
            return
        orders, lines = tables["orders"], tables["order_lines"]
        status = orders.sorted_column("status")
        assert isinstance(status, Cat)
        placed = status.codes == 0
        oid = orders.sorted_column("order_id")
        # every day an order appears on (placed, cancelled, shipped, delivered)
        busy: dict[int, set[int]] = {}
        for o, d in zip(oid.tolist(), orders.day.tolist(), strict=True):
            busy.setdefault(o, set()).add(d)
        rng = np.random.default_rng([self.seed, 405])
        moved: list[tuple[int, int, int]] = []  # (order_id, from day, to day)
        candidates = np.flatnonzero(placed & (orders.day >= 1) & (orders.day < self.days - 2))
        if len(candidates) == 0:
            return
        k = max(1, int(rng.binomial(len(candidates), self.rate)))
        for row in rng.choice(candidates, size=min(k, len(candidates)), replace=False):
            o, d = int(oid[row]), int(orders.day[row])
            lags = [lag for lag in (2, 3, 4, 5) if d + lag < self.days and d + lag not in busy[o]]
            if not lags:
                continue
            to = d + int(rng.choice(lags))
            orders.day[row] = to
            orders.flag[row] = 1
            moved.append((o, d, to))
        if not moved:
            return
        move_to = {o: (d, to) for o, d, to in moved}
        line_oid = lines.sorted_column("order_id")
        sel = np.flatnonzero(np.isin(line_oid, np.array(list(move_to))))
        for row in sel:
            d, to = move_to[int(line_oid[row])]
            if lines.day[row] == d:
                lines.day[row] = to
                lines.flag[row] = 1
        for name, buf in (("orders", orders), ("order_lines", lines)):
            buf.resort()
            bounds = buf.day_bounds(self.days)
            for row in np.flatnonzero(buf.flag == 1):
                day = int(buf.day[row])
                key = int(buf.sorted_column("order_id")[row])
                self.late_from.setdefault((name, day), {})[int(row - bounds[day])] = move_to[key][0]

    # ------------------------------------------------------------------ row faults
    def plan_rows(self, tables: dict[str, TableBuffer]) -> None:
        row_faults = [f for f in ROW_FAULTS if f in self.names]
        if not row_faults:
            return
        files: list[tuple[str, int, np.ndarray]] = []
        for ti, table in enumerate(ROW_FAULT_TABLES):
            buf = tables[table]
            bounds = buf.day_bounds(self.days)
            for d in range(self.days):
                lo, hi = int(bounds[d]), int(bounds[d + 1])
                if hi == lo:
                    continue
                free = np.flatnonzero(buf.flag[lo:hi] == 0)
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
                if _eligible_columns(t, fault)
                and len(set(free.tolist()) - set(self.rows[(t, d)])) > 0
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
        pool = np.array([r for r in free.tolist() if r not in chosen], np.int64)
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

    def record_volume_drop(self, tables: dict[str, TableBuffer]) -> None:
        if self.volume_drop_day is None:
            return
        d = self.volume_drop_day
        for table in ("orders", "order_lines"):
            bounds = tables[table].day_bounds(self.days)
            self.record(
                fault="volume_drop",
                table=table,
                file=self.file(table, d),
                line=None,
                column=None,
                key=None,
                value=None,
                detail=f"day written with {int(bounds[d + 1] - bounds[d])} rows, about "
                f"{VOLUME_DROP_FACTOR:.0%} of a normal day's new orders",
            )

    def edit(
        self, table: str, day: int, buf: TableBuffer, lo: int, header: bytes, body: bytes
    ) -> tuple[bytes, bytes]:
        """Apply this file's faults to the clean CSV text; returns (header, body)."""
        planned = self.rows.get((table, day), {})
        late = self.late_from.get((table, day), {})
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
            key = {k: _py(buf.sorted_column(k), lo + i) for k in contract.primary_key}
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
