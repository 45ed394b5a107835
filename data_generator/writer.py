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
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pyarrow.csv as pacsv

from ingestion.contracts import CONTRACTS
from ingestion.readiness import write_day_manifest

from .faults import FaultPlan
from .frames import DayRows

_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")


@dataclass
class DayWriter:
    """Writes a day's files, then that day's readiness manifest, and keeps the counts."""

    out: Path
    start: date
    plan: FaultPlan | None = None
    files: dict[str, int] = field(default_factory=dict)  # rows per file written
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONTRACTS, 0))
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CONTRACTS, 0.0))

    def __post_init__(self) -> None:
        self._headers = {}
        for name, contract in CONTRACTS.items():
            (self.out / name).mkdir(parents=True, exist_ok=True)
            self._headers[name] = (",".join(contract.column_names) + "\n").encode()

    def write_day(self, day: int, batch: dict[str, DayRows]) -> None:
        """Write every file of ``day`` (a reference table only when it has rows), then the
        day's manifest: once it exists, every file it names is complete."""
        when = self.start + timedelta(days=day)
        digests: dict[str, tuple[int, str]] = {}
        for name, rows in batch.items():
            began = time.perf_counter()
            if not len(rows) and rows.contract.reference:
                continue
            head, body = self._headers[name], self._body(rows)
            count = len(rows)
            if self.plan is not None:
                head, body = self.plan.edit(name, day, rows, head, body)
                count = body.count(b"\n")
            file = f"{name}/{when.isoformat()}.csv"
            digests[file] = _write_file(self.out / file, head, body)
            self.files[file] = count
            self.rows[name] += count
            self.seconds[name] += time.perf_counter() - began
        write_day_manifest(self.out, when, digests)

    @staticmethod
    def _body(rows: DayRows) -> bytes:
        if not len(rows):
            return b""
        sink = io.BytesIO()
        pacsv.write_csv(rows.to_arrow(), sink, _OPTIONS)
        return sink.getvalue()


def _write_file(path: Path, head: bytes, body: bytes) -> tuple[int, str]:
    """Write one file; its (size, sha256) go into the day's readiness manifest."""
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(body)
    digest = hashlib.sha256(head)
    digest.update(body)
    return len(head) + len(body), digest.hexdigest()


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
