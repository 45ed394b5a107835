"""Realistic incidents written into a landing zone before it is loaded, to rehearse the monitors
(tests and ``python -m benchmarks --only monitors``). The generator's own faults
(``data_generator.faults``) break rows and files; these break the business:

| incident | what is written | caught by |
| --- | --- | --- |
| ``price_x100`` | every order line of a day with ``unit_price`` x100 (cents read as dollars) | day: revenue; dbt: unit price = list price |
| ``channel_loss`` | a share of one channel's orders of a day gone (orders, lines, shipments, feedback, returns) | segment: orders by channel |
| ``carrier_late`` | one carrier's deliveries of a day arriving N days later (moved to that day's files) | segment: deliveries and on-time rate by carrier |
| ``defect_creep`` | one facility's defect rate rising over N days to ``peak`` times its usual | weekly: defect rate by facility |
| ``redeliver`` | a day's files replaced by the day before's (other line endings, or the same bytes) | rows_* and files monitors; dbt: file carries its day's events |
| ``refund_above_paid`` | one return refunding more than its line paid | dbt: refunds never above the line |
| ``delivered_before_shipped`` | one delivery dated before its shipment | dbt: delivered after shipped |

Every edit keeps the contract's CSV layout (strings quoted, nulls empty) and re-seals the day's
readiness manifest (``ingestion.readiness.seal_day``), as a producer would after correcting files.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from ingestion.contracts import CONTRACTS, VARCHAR
from ingestion.readiness import seal_day

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Drill:
    """What an incident changed, for the assertions that follow."""

    incident: str
    day: date
    rows: int  # rows edited, moved or removed
    of: int  # rows of that kind the day had
    detail: str


def _path(landing: Path, table: str, day: date) -> Path:
    return landing / table / f"{day.isoformat()}.csv"


def _read(path: Path) -> tuple[str, list[dict[str, str]]]:
    text = path.read_text(encoding="utf-8")
    header, _, _ = text.partition("\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    return header, rows


def _render(table: str, row: dict[str, str]) -> str:
    out = []
    for column in CONTRACTS[table].columns:
        value = row[column.name]
        if column.type == VARCHAR and value != "":
            value = '"' + value.replace('"', '""') + '"'
        out.append(value)
    return ",".join(out)


def _write(path: Path, table: str, header: str, rows: list[dict[str, str]]) -> None:
    path.write_text(
        header + "\n" + "".join(_render(table, r) + "\n" for r in rows), encoding="utf-8"
    )


def _days(landing: Path, table: str, since: date) -> list[date]:
    folder = landing / table
    days = (
        sorted(date.fromisoformat(p.stem) for p in folder.glob("*.csv")) if folder.exists() else []
    )
    return [d for d in days if d >= since]


def reseal(landing: Path, *days: date) -> None:
    """Rewrite the readiness manifest of each of ``days`` from its files as they are now."""
    for day in sorted(set(days)):
        names = sorted(
            f"{p.parent.name}/{p.name}" for p in landing.glob(f"*/{day.isoformat()}.csv")
        )
        seal_day(landing, day, names)


def _shift(stamp: str, days: int) -> str:
    return (datetime.strptime(stamp, TIME_FORMAT) + timedelta(days=days)).strftime(TIME_FORMAT)


# --------------------------------------------------------------------------- incidents
def price_x100(landing: Path, day: date) -> Drill:
    """Every order line of ``day`` with its unit price multiplied by 100."""
    path = _path(landing, "order_lines", day)
    header, rows = _read(path)
    for r in rows:
        r["unit_price"] = f"{Decimal(r['unit_price']) * 100:.2f}"
    _write(path, "order_lines", header, rows)
    reseal(landing, day)
    return Drill("price_x100", day, len(rows), len(rows), "unit_price x100 on every line")


def channel_loss(
    landing: Path, day: date, channel: str, share: float = 0.4, seed: int = 0
) -> Drill:
    """``share`` of the orders placed on ``day`` through ``channel`` never arrive: their rows
    are removed from orders, order lines, shipments, delivery feedback and returns, in every
    file from ``day`` on."""
    _, orders = _read(_path(landing, "orders", day))
    placed = [r["order_id"] for r in orders if r["channel"] == channel and r["status"] == "placed"]
    rng = np.random.default_rng([seed, 21])
    k = round(share * len(placed))
    gone = set(rng.choice(placed, size=k, replace=False).tolist()) if k else set()
    gone_lines: set[str] = set()
    touched: set[date] = set()
    for table in ("orders", "order_lines", "shipments", "delivery_feedback", "returns"):
        for d in _days(landing, table, day):
            path = _path(landing, table, d)
            header, rows = _read(path)
            if table == "order_lines":
                gone_lines |= {r["order_line_id"] for r in rows if r["order_id"] in gone}
            if table == "returns":
                kept = [r for r in rows if r["order_line_id"] not in gone_lines]
            else:
                kept = [r for r in rows if r["order_id"] not in gone]
            if len(kept) != len(rows):
                _write(path, table, header, kept)
                touched.add(d)
    reseal(landing, *touched)
    return Drill(
        "channel_loss",
        day,
        len(gone),
        len(placed),
        f"{len(gone)} of {len(placed)} {channel} orders removed with their lines, shipments, "
        "feedback and returns",
    )


def carrier_late(landing: Path, day: date, carrier_id: int, days: int = 3) -> Drill:
    """The deliveries of ``day`` by ``carrier_id`` arrive ``days`` later: their delivered
    shipment rows (and their orders' delivered rows) move to that day's files, with
    ``delivered_at`` and ``updated_at`` later by ``days``."""
    later = day + timedelta(days=days)
    s_header, shipments = _read(_path(landing, "shipments", day))
    delivered = [r for r in shipments if r["status"] == "delivered"]
    late = [r for r in delivered if r["carrier_id"] == str(carrier_id)]
    late_orders = {r["order_id"] for r in late}
    for r in late:
        r["delivered_at"] = _shift(r["delivered_at"], days)
        r["updated_at"] = _shift(r["updated_at"], days)
    o_header, orders = _read(_path(landing, "orders", day))
    moved_orders = [
        r for r in orders if r["status"] == "delivered" and r["order_id"] in late_orders
    ]
    for r in moved_orders:
        r["updated_at"] = _shift(r["updated_at"], days)
    for table, header, rows, moved in (
        ("shipments", s_header, shipments, late),
        ("orders", o_header, orders, moved_orders),
    ):
        ids = {id(r) for r in moved}
        _write(_path(landing, table, day), table, header, [r for r in rows if id(r) not in ids])
        target = _path(landing, table, later)
        t_header, t_rows = _read(target)
        _write(target, table, t_header, t_rows + moved)
    reseal(landing, day, later)
    return Drill(
        "carrier_late",
        day,
        len(late),
        len(delivered),
        f"{len(late)} of {len(delivered)} deliveries (carrier {carrier_id}) {days} days late",
    )


def defect_creep(
    landing: Path,
    start: date,
    facility_id: int,
    days: int = 10,
    peak: float = 3.0,
    seed: int = 0,
) -> Drill:
    """Over ``days`` days from ``start``, the lots of ``facility_id`` find more defects: the
    expected rate grows linearly to ``peak`` times the facility's rate of the 4 weeks before
    (extra defects drawn binomially from the units sampled; ``result`` follows the lot's
    acceptance number)."""
    found = sampled = 0
    for d in _days(landing, "quality_inspections", start - timedelta(days=28)):
        if d >= start:
            break
        for r in _read(_path(landing, "quality_inspections", d))[1]:
            if r["facility_id"] == str(facility_id):
                found += int(r["defects_found"])
                sampled += int(r["sample_size"])
    base = found / sampled if sampled else 0.02
    rng = np.random.default_rng([seed, 23])
    lots = 0
    accept = {32: 1, 50: 2, 80: 3}
    for k in range(days):
        d = start + timedelta(days=k)
        path = _path(landing, "quality_inspections", d)
        header, rows = _read(path)
        factor = 1 + (peak - 1) * (k + 1) / days
        for r in rows:
            if r["facility_id"] != str(facility_id):
                continue
            sample, defects = int(r["sample_size"]), int(r["defects_found"])
            extra = int(rng.binomial(sample - defects, min((factor - 1) * base, 1.0)))
            r["defects_found"] = str(defects + extra)
            r["result"] = "fail" if defects + extra > accept.get(sample, 1) else "pass"
            lots += 1
        _write(path, "quality_inspections", header, rows)
    reseal(landing, *(start + timedelta(days=k) for k in range(days)))
    return Drill(
        "defect_creep",
        start,
        lots,
        lots,
        f"facility {facility_id}: defect rate rising to {peak:g}x its {base:.2%} over {days} days",
    )


def redeliver(landing: Path, day: date, line_endings: str | None = "\r\n") -> Drill:
    """``day``'s files replaced by the day before's content (``line_endings`` rewritten, e.g.
    CRLF; None: the very same bytes)."""
    before = day - timedelta(days=1)
    files = 0
    for source in sorted(landing.glob(f"*/{before.isoformat()}.csv")):
        data = source.read_bytes()
        if line_endings is not None:
            data = data.replace(b"\r\n", b"\n").replace(b"\n", line_endings.encode())
        _path(landing, source.parent.name, day).write_bytes(data)
        files += 1
    for stale in landing.glob(f"*/{day.isoformat()}.csv"):
        if not _path(landing, stale.parent.name, before).exists():
            stale.unlink()
    reseal(landing, day)
    ending = "the same bytes" if line_endings is None else repr(line_endings) + " line endings"
    return Drill("redeliver", day, files, files, f"{before}'s {files} files as {day}'s ({ending})")


def refund_above_paid(landing: Path, day: date) -> Drill:
    """The first refunded return of ``day`` refunds 100,000.00."""
    path = _path(landing, "returns", day)
    header, rows = _read(path)
    hit = next(r for r in rows if r["status"] == "refunded")
    hit["refund_amount"] = "100000.00"
    _write(path, "returns", header, rows)
    reseal(landing, day)
    return Drill(
        "refund_above_paid", day, 1, len(rows), f"return {hit['return_id']} refunds 100000.00"
    )


def delivered_before_shipped(landing: Path, day: date) -> Drill:
    """The first delivery of ``day`` dated one day before its shipment."""
    path = _path(landing, "shipments", day)
    header, rows = _read(path)
    hit = next(r for r in rows if r["status"] == "delivered")
    hit["delivered_at"] = _shift(hit["shipped_at"], -1)
    _write(path, "shipments", header, rows)
    reseal(landing, day)
    return Drill(
        "delivered_before_shipped",
        day,
        1,
        len(rows),
        f"shipment {hit['shipment_id']} delivered before shipped",
    )
