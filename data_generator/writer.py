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
from concurrent.futures import Executor, Future
from datetime import date, timedelta
from pathlib import Path

import pyarrow.csv as pacsv

from ingestion.contracts import CONTRACTS
from ingestion.readiness import write_day_manifest

from .faults import FaultPlan
from .frames import TableBuffer

_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def _write_file(path: Path, head: bytes, body: bytes) -> tuple[int, str]:
    """Write one file; its (size, sha256) go into the day's readiness manifest."""
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(body)
    digest = hashlib.sha256(head)
    digest.update(body)
    return len(head) + len(body), digest.hexdigest()


def write_table(
    buf: TableBuffer,
    out: Path,
    start: date,
    days: int,
    plan: FaultPlan | None,
    io_pool: Executor,
    bar=None,
    first_day: int = 0,
    digests: dict[str, tuple[int, str]] | None = None,
) -> dict[str, int]:
    """Write every daily file of one table; returns rows written per file (relative path) and
    fills ``digests`` with each file's (size, sha256).

    CSV text is formatted here; creating and writing the files happens on ``io_pool`` threads,
    since creating thousands of small files is mostly waiting on the file system.
    """
    contract = buf.contract
    header = (",".join(contract.column_names) + "\n").encode()
    folder = out / contract.name
    folder.mkdir(parents=True, exist_ok=True)
    bounds = buf.day_bounds(days)
    table = buf.to_arrow() if len(buf) else None
    written: dict[str, int] = {}
    pending: list[tuple[str, Future]] = []
    for d in range(first_day, days):
        lo, hi = int(bounds[d]), int(bounds[d + 1])
        if hi == lo and contract.reference:
            if bar is not None:
                bar.update(1)
            continue
        body = b""
        if hi > lo:
            sink = io.BytesIO()
            pacsv.write_csv(buf.rows(table, lo, hi), sink, _OPTIONS)
            body = sink.getvalue()
        head, rows = header, hi - lo
        if plan is not None:
            head, body = plan.edit(contract.name, d, buf, lo, header, body)
            rows = body.count(b"\n")
        name = f"{(start + timedelta(days=d)).isoformat()}.csv"
        pending.append(
            (f"{contract.name}/{name}", io_pool.submit(_write_file, folder / name, head, body))
        )
        written[f"{contract.name}/{name}"] = rows
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"{hi:,} rows", refresh=False)
    for name, future in pending:
        size_digest = future.result()
        if digests is not None:
            digests[name] = size_digest
    return written


def write_ready_manifests(out: Path, digests: dict[str, tuple[int, str]]) -> None:
    """Each day's readiness manifest, written after every file of the day (see
    ``ingestion.readiness``): the loader loads a file only when it matches its day's manifest."""
    days: dict[str, dict[str, tuple[int, str]]] = {}
    for name, size_digest in digests.items():
        days.setdefault(name.rsplit("/", 1)[1].removesuffix(".csv"), {})[name] = size_digest
    for day, files in sorted(days.items()):
        write_day_manifest(out, date.fromisoformat(day), files)


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
