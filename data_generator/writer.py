"""Writing the landing zone: one CSV per table per day, ``<out>/<table>/<YYYY-MM-DD>.csv``.

Files are UTF-8, comma-separated, ``\\n``-terminated, with a header row. Text values are always
quoted (``"..."``, inner quotes doubled), numbers and timestamps never; a missing value is an
empty field. Timestamps are ``YYYY-MM-DD HH:MM:SS`` (UTC), dates ``YYYY-MM-DD``, decimals carry
exactly their scale (``12.50``). A record never spans two lines.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv

from ingestion.contracts import CONTRACTS
from ingestion.readiness import write_day_manifest

from .faults import FaultPlan
from .frames import DayRows, arrow_days

# Arrow formats 16,384 rows at a time instead of its default 1,024: about a tenth less CPU in the
# writers for the same bytes, for about 15 MB more memory in each (measured on a year at scale 10)
_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=1 << 14)
BATCH_ROWS = 250_000  # a file with more rows is formatted and written this many rows at a time


@dataclass
class Written:
    """What writing some days produced: rows per file, per table, and seconds per table."""

    files: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONTRACTS, 0))
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CONTRACTS, 0.0))
    records: list[dict] = field(default_factory=list)  # faults injected while writing
    peak_rss_kib: int = 0  # of the writer process that wrote them (0: written inline)

    def add(self, other: Written) -> None:
        self.peak_rss_kib = max(self.peak_rss_kib, other.peak_rss_kib)
        self.files.update(other.files)
        for name in CONTRACTS:
            self.rows[name] += other.rows[name]
            self.seconds[name] += other.seconds[name]


class DayWriter:
    """Writes runs of days: each day's files, then that day's readiness manifest."""

    def __init__(self, out: Path, start: date, plan: FaultPlan | None = None):
        self.out, self.start, self.plan = out, start, plan
        self._headers = {}
        for name, contract in CONTRACTS.items():
            (out / name).mkdir(parents=True, exist_ok=True)
            self._headers[name] = (",".join(contract.column_names) + "\n").encode()

    def write_days(self, days: list[tuple[int, dict[str, DayRows]]]) -> Written:
        """Write every file of each day (a reference table only when it has rows), then the
        day's manifest: once it exists, every file it names is complete. A table's rows of all
        the days are converted to Arrow at once, cut into files, and dropped after the last."""
        done = Written()
        mark = len(self.plan.records) if self.plan is not None else 0
        tables: dict[str, tuple] = {}
        for i, (day, batch) in enumerate(days):
            when = self.start + timedelta(days=day)
            digests: dict[str, tuple[int, str]] = {}
            for name, rows in batch.items():
                began = time.perf_counter()
                if name not in tables:
                    tables[name] = self._arrow(name, [b[name] for _, b in days])
                table, bounds = tables[name] if i < len(days) - 1 else tables.pop(name)
                if not len(rows) and rows.contract.reference:
                    continue
                file = f"{name}/{when.isoformat()}.csv"
                head, count = self._headers[name], len(rows)
                parts = _batches(rows) if table is None else [_csv(table, bounds[i], count)]
                if self.plan is not None:
                    body = b"".join(parts)
                    head, body = self.plan.edit(name, day, rows, head, body)
                    count = body.count(b"\n")
                    parts = [body]
                digests[file] = _write_file(self.out / file, head, parts)
                done.files[file] = count
                done.rows[name] += count
                done.seconds[name] += time.perf_counter() - began
            write_day_manifest(self.out, when, digests)
        if self.plan is not None:  # handed back to the caller, who may be another process
            done.records = self.plan.records[mark:]
            del self.plan.records[mark:]
        return done

    @staticmethod
    def _arrow(name: str, parts: list[DayRows]) -> tuple:
        """(Arrow table of every part, row offsets), or (None, offsets) when a file is so large
        that it goes batch by batch."""
        bounds = np.cumsum([0] + [len(p) for p in parts]).tolist()
        if max(len(p) for p in parts) > BATCH_ROWS:
            return None, bounds
        return arrow_days(CONTRACTS[name], parts), bounds


def _csv(table, lo: int, n: int) -> bytes:
    """CSV text of ``n`` rows of an Arrow table from row ``lo``."""
    if n == 0:
        return b""
    sink = io.BytesIO()
    pacsv.write_csv(table.slice(lo, n), sink, _OPTIONS)
    return sink.getvalue()


def _batches(rows: DayRows) -> Iterator[bytes]:
    """CSV text of a large file, ``BATCH_ROWS`` rows at a time: memory for a batch, not a file
    (the first day's customers file holds every customer: 2.5M rows at scale 100)."""
    for lo in range(0, len(rows), BATCH_ROWS):
        part = rows.between(lo, min(lo + BATCH_ROWS, len(rows)))
        yield _csv(part.to_arrow(), 0, len(part))


def _write_file(path: Path, head: bytes, body: Iterable[bytes]) -> tuple[int, str]:
    """Write one file, its body part by part as made; its (size, sha256) go into the day's
    readiness manifest."""
    digest = hashlib.sha256(head)
    size = len(head)
    with open(path, "wb") as fh:
        fh.write(head)
        for part in body:
            fh.write(part)
            digest.update(part)
            size += len(part)
    return size, digest.hexdigest()


def _same_run(old: dict, args: dict) -> bool:
    """Whether an existing manifest comes from the same generator settings (days aside)."""
    keys = ("start", "scale", "seed", "faults", "fault_rate")
    return all(old.get(k) == args.get(k) for k in keys)


def write_manifest(out: Path, args: dict, files: dict[str, int], merge: bool = False) -> None:
    path = out / "_manifest.json"
    if merge and path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if _same_run(old.get("generator", {}), args):
            files = {**old.get("files", {}), **files}
            args = {**args, "days": max(args["days"], old["generator"].get("days", 0))}
    manifest = {
        "generator": args,
        "tables": sorted(CONTRACTS),
        "files": dict(sorted(files.items())),
    }
    path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def write_faults(
    out: Path, args: dict, plan: FaultPlan | None, written: set[str] | None = None
) -> None:
    """Record every injected fault; with ``written`` (one day's files), merge into the file."""
    path = out / "_faults.json"
    if plan is None:
        if written is None:
            path.unlink(missing_ok=True)
        return
    order = ("fault", "stage", "table", "file", "line", "column", "key", "value", "detail")
    records = [{k: r.get(k) for k in order} for r in plan.records]
    if written is not None:
        records = [r for r in records if r["file"] in written]
        if path.exists():
            old = json.loads(path.read_text(encoding="utf-8"))
            if _same_run(old.get("generator", {}), args):
                records += [r for r in old["faults"] if r["file"] not in written]
    records.sort(key=lambda r: (r["file"], r["line"] or 0, r["fault"]))
    summary: dict[str, int] = {}
    for r in records:
        summary[r["fault"]] = summary.get(r["fault"], 0) + 1
    doc = {"generator": args, "summary": dict(sorted(summary.items())), "faults": records}
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
