"""``python -m bi extract``: a Tableau ``.hyper`` extract per public mart and metrics table.

Reads the warehouse ``WAREHOUSE_TARGET`` names (:mod:`bi.marts`) and writes
``<out>/<table>.hyper`` (:mod:`bi.hyper`) plus the manifest ``<out>/extracts.json``; ``<out>`` is
``--out``, else ``BI_EXTRACTS_DIR``, else ``<PLATFORM_LOCAL_DIR or .local>/bi/extracts``.

* **Fast path.** DuckDB writes the rows to a Parquet file and Hyper bulk-loads it with
  ``COPY ... FROM ... WITH (FORMAT PARQUET)``; PostgreSQL streams ``COPY ... TO STDOUT`` CSV,
  which Hyper loads the same way. One Hyper process serves the whole run.
* **Incremental refresh.** An incremental model (``fct_order_lines``, ``fct_orders``,
  ``metrics_sales_performance``...) is compared day by day (rows and a fingerprint of every value,
  computed by the warehouse) with what the previous extract recorded; only the days that differ
  are deleted from the file and copied in again, in one transaction. A table that did not change
  is left alone; other tables, a changed schema, most days changed, or ``--full`` rewrite the file.
* **Reconciled, always.** Before a file replaces the old one (or a day replacement commits), Hyper
  recounts its rows and sums every numeric column; they must equal the warehouse's own figures
  to the last digit, or nothing is replaced and the run fails naming the table and column.
* **The manifest** lists per extract its table, rows, the sum of every numeric column (exact
  decimal strings), columns with their types, how it was refreshed and which days, and seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import json
import math
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from platform_core.paths import local_dir
from platform_core.settings import current

from . import hyper
from .marts import (
    NULL_DAY,
    WHOLE,
    DayStats,
    MartTable,
    Source,
    days_condition,
    discover,
    ident,
)

REPO = Path(__file__).resolve().parent.parent
MANIFEST = "extracts.json"
FORMAT_VERSION = 1
#: When more than this share of an incremental table's days changed, the file is rewritten.
INCREMENTAL_MAX_SHARE = 0.5
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def default_out_dir() -> Path:
    return current().get("BI_EXTRACTS_DIR") or current().local_dir / "bi" / "extracts"


def dbt_manifest_path() -> Path:
    return current().manifest_path


class NotReconciled(RuntimeError):
    """A Hyper file's rows or sums differ from the warehouse's."""


# --------------------------------------------------------------------------- figures
def _sum_text(value: Decimal | float | int | None, column) -> str | None:
    """An exact decimal string: a decimal column's sum with its scale, an integer's as an
    integer, a double's shortest round-trip form."""
    if value is None:
        return None
    if column.type == "double":
        return repr(float(value))
    if column.type == "numeric":
        return f"{Decimal(value):.{column.scale}f}"
    return str(int(value))


def warehouse_totals(table: MartTable, stats: dict[str, DayStats]) -> tuple[int, dict]:
    rows = sum(s.rows for s in stats.values())
    sums: dict[str, Decimal | float | None] = {}
    for c in table.measures:
        values = [s.sums[c.name] for s in stats.values() if s.sums[c.name] is not None]
        if not values:
            sums[c.name] = None
        elif c.type == "double":
            sums[c.name] = math.fsum(float(v) for v in values)
        else:
            sums[c.name] = sum((Decimal(v) for v in values), Decimal(0))
    return rows, sums


def reconcile(table: MartTable, expected: tuple[int, dict], found: tuple[int, dict]) -> None:
    """Raise :class:`NotReconciled` unless the Hyper figures equal the warehouse's (doubles to
    a relative 1e-9: their sums depend on the order of addition)."""
    rows, sums = expected
    got_rows, got_sums = found
    if rows != got_rows:
        raise NotReconciled(f"{table.name}: the extract has {got_rows} rows, the mart {rows}")
    for c in table.measures:
        want, got = sums[c.name], got_sums[c.name]
        if want is None or got is None:
            same = want is None and got is None
        elif c.type == "double":
            same = math.isclose(float(want), float(got), rel_tol=1e-9)
        else:
            same = Decimal(want) == Decimal(got)
        if not same:
            raise NotReconciled(
                f"{table.name}.{c.name}: the extract sums to {got}, the mart to {want}"
            )


def _fingerprints(stats: dict[str, DayStats]) -> dict[str, str]:
    return {day: f"{s.rows}:{s.fingerprint}" for day, s in sorted(stats.items())}


# --------------------------------------------------------------------------- one table
def _api_error() -> type[BaseException]:
    from tableauhyperapi import HyperException

    return HyperException


@dataclass
class Outcome:
    mode: str  # full | incremental | unchanged
    rows: int
    sums: dict
    refreshed_days: list[str] | None
    deleted: int = 0


def _day_key(key: object) -> bool:
    if key in (NULL_DAY, WHOLE):
        return True
    try:
        return date.fromisoformat(str(key)).isoformat() == key
    except ValueError:
        return False


def _reusable(previous: dict | None, table: MartTable, path: Path, full: bool) -> bool:
    if full or not previous or not path.exists() or not isinstance(previous.get("days"), dict):
        return False
    if not all(_day_key(k) for k in previous["days"]):
        return False  # not a manifest this code wrote: no day of it reaches SQL
    keys = ("name", "type", "nullable")
    before = [{k: c.get(k) for k in keys} for c in previous.get("columns", [])]
    same_columns = before == [c.as_dict() for c in table.columns]
    return same_columns and previous.get("day_column") == table.day_column


def extract_table(
    process,
    source: Source,
    table: MartTable,
    out: Path,
    work: Path,
    previous: dict | None,
    full: bool,
) -> tuple[Outcome, dict[str, str], dict[str, float]]:
    """Bring ``<out>/<table>.hyper`` up to date with the mart. Returns the outcome, the new
    per-day fingerprints and seconds per step (steps of a rewrite overlap)."""
    steps: dict[str, float] = {}
    path = out / f"{table.name}.hyper"
    stats = None
    outcome = None
    if _reusable(previous, table, path, full):
        began = time.perf_counter()
        stats = source.day_stats(table)
        steps["stats"] = time.perf_counter() - began
        expected = warehouse_totals(table, stats)
        fingerprints = _fingerprints(stats)

        def check(rows: int, sums: dict) -> None:
            reconcile(table, expected, (rows, sums))

        before = previous["days"]
        changed = sorted(
            d for d in fingerprints.keys() | before.keys() if fingerprints.get(d) != before.get(d)
        )
        try:
            if not changed:
                began = time.perf_counter()
                rows, sums = hyper.read_totals(process, path, table)
                check(rows, sums)
                steps["hyper"] = time.perf_counter() - began
                outcome = Outcome("unchanged", rows, sums, [] if table.day_column else None)
            elif table.day_column and len(changed) <= INCREMENTAL_MAX_SHARE * max(
                len(fingerprints), 1
            ):
                outcome = _incremental(process, source, table, path, work, changed, check, steps)
        except (NotReconciled, _api_error()):
            outcome = None  # the file no longer matches its manifest, or is unreadable: rewrite
    if outcome is None:
        outcome, stats = _full(process, source, table, path, work, steps, stats)
    return outcome, _fingerprints(stats), steps


def _full(process, source, table, path, work, steps, stats) -> tuple[Outcome, dict]:
    """Rewrite the file; ``stats`` when already computed, else computed by the warehouse while
    Hyper loads the rows (the source is free then: Hyper reads the exported file)."""
    began = time.perf_counter()
    file = _export(source, table, work, None)
    steps["export"] = time.perf_counter() - began
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_timed, source.day_stats, table) if stats is None else None
        known = {"stats": stats}

        def check(rows: int, sums: dict) -> None:
            if pending is not None:
                known["stats"], steps["stats"] = pending.result()
            reconcile(table, warehouse_totals(table, known["stats"]), (rows, sums))

        try:
            rows, sums = hyper.write_full(process, path, table, file, source.file_format, check)
        finally:
            file.unlink(missing_ok=True)
    steps["hyper"] = time.perf_counter() - began - steps["export"]
    stats = known["stats"]
    refreshed = sorted(d for d in stats if d != WHOLE) if table.day_column else None
    return Outcome("full", rows, sums, refreshed), stats


def _timed(function, *args):
    began = time.perf_counter()
    return function(*args), time.perf_counter() - began


def _export(source: Source, table: MartTable, work: Path, days: list[str] | None) -> Path:
    file = work / f"{table.name}.{source.file_format}"
    file.unlink(missing_ok=True)
    source.export(table, file, days)
    return file


def _incremental(process, source, table, path, work, changed, check, steps) -> Outcome:
    began = time.perf_counter()
    file = _export(source, table, work, changed)
    steps["export"] = time.perf_counter() - began
    began = time.perf_counter()
    try:
        deleted, rows, sums = hyper.replace_days(
            process,
            path,
            table,
            days_condition(table, changed),
            file,
            source.file_format,
            check,
        )
    finally:
        file.unlink(missing_ok=True)
    steps["hyper"] = time.perf_counter() - began
    return Outcome("incremental", rows, sums, changed, deleted)


# --------------------------------------------------------------------------- the run
def _read_manifest(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}  # unreadable: every extract is rewritten, and the manifest with them
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        return {}
    extracts = data.get("extracts")
    if not isinstance(extracts, dict) or not all(
        isinstance(e, dict) and _IDENT.fullmatch(n) for n, e in extracts.items()
    ):
        return {}  # not a manifest this code wrote: nothing in it names a file to touch
    return data


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def _entry(table: MartTable, outcome: Outcome, fingerprints, steps, seconds, now) -> dict:
    types = {c.name: str(hyper.sql_type(c)) for c in table.columns}
    return {
        "file": f"{table.name}.hyper",
        "table": f"{table.schema}.{table.relation}",
        "hyper_table": f"{hyper.SCHEMA}.{hyper.TABLE}",
        "rows": outcome.rows,
        "sums": {c.name: _sum_text(outcome.sums[c.name], c) for c in table.measures},
        "columns": [{**c.as_dict(), "hyper_type": types[c.name]} for c in table.columns],
        "day_column": table.day_column,
        "mode": outcome.mode,
        "refreshed_days": outcome.refreshed_days,
        "rows_replaced": outcome.deleted if outcome.mode == "incremental" else None,
        "seconds": round(seconds, 3),
        "seconds_by_step": {k: round(v, 3) for k, v in steps.items()},
        "refreshed_at": now,
        "days": fingerprints,
    }


def refresh(
    out: Path | None = None,
    tables: list[str] | None = None,
    full: bool = False,
    dbt_manifest: Path | None = None,
    source: Source | None = None,
    say=None,
) -> dict:
    """Bring every extract (or those of ``tables``) up to date; returns the manifest written."""
    from .marts import open_source

    say = say or (lambda line: None)
    out = Path(out or default_out_dir()).resolve()
    out.mkdir(parents=True, exist_ok=True)
    dbt_manifest = Path(dbt_manifest or dbt_manifest_path())
    began = time.perf_counter()
    with (out / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one refresh of a folder at a time
        own_source = source is None
        source = source or open_source()
        try:
            return _refresh(out, tables, full, dbt_manifest, source, say, began)
        finally:
            if own_source:
                source.close()


def _engine_errors() -> tuple[type[BaseException], ...]:
    """The errors of Hyper and the warehouse drivers: reported as one line naming the table."""
    from tableauhyperapi import HyperException

    errors: list[type[BaseException]] = [HyperException]
    for module in ("duckdb", "psycopg"):
        with contextlib.suppress(ImportError):
            errors.append(importlib.import_module(module).Error)
    return tuple(errors)


def _refresh(out, tables, full, dbt_manifest, source, say, began) -> dict:
    if not dbt_manifest.exists():
        say(f"no dbt manifest at {dbt_manifest}: every table of marts and metrics, refreshed whole")
    selected, not_built = discover(source, dbt_manifest if dbt_manifest.exists() else None, tables)
    for table in selected:
        for c in table.columns:
            hyper.sql_type(c)  # every type maps, before any file is touched
    old = _read_manifest(out / MANIFEST)
    same_source = old.get("source") == source.describe()
    previous = old.get("extracts", {}) if same_source else {}
    manifest = {
        "format": FORMAT_VERSION,
        "target": source.target,
        "source": source.describe(),
        "dbt_manifest": str(dbt_manifest) if dbt_manifest.exists() else None,
        "refreshed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": None,
        "not_built": not_built,
        "extracts": dict(previous),
        "this_run": [t.name for t in selected],
    }
    extracts = manifest["extracts"]
    current = "starting Hyper"
    try:
        with (
            tempfile.TemporaryDirectory(dir=out, prefix=".work-") as work,
            hyper.hyper_process(local_dir() / "bi" / "hyper_logs") as process,
        ):
            for table in selected:
                current = table.name
                started = time.perf_counter()
                source.begin_table()
                try:
                    outcome, fingerprints, steps = extract_table(
                        process, source, table, out, Path(work), previous.get(table.name), full
                    )
                finally:
                    source.end_table()
                seconds = time.perf_counter() - started
                extracts[table.name] = _entry(
                    table, outcome, fingerprints, steps, seconds, manifest["refreshed_at"]
                )
                # after each file: the manifest always describes the files as they are
                _write_json(out / MANIFEST, manifest)
                say(_line(table.name, outcome, seconds))
    except _engine_errors() as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RuntimeError(f"{current}: {first}") from exc
    if not tables:
        for name in sorted(set(extracts) - {t.name for t in selected}):
            (out / f"{ident(name, 'extract')}.hyper").unlink(missing_ok=True)
            del extracts[name]
            say(f"{name}: removed (no longer a table of the marts)")
    manifest["extracts"] = dict(sorted(extracts.items()))
    manifest["seconds"] = round(time.perf_counter() - began, 3)
    _write_json(out / MANIFEST, manifest)
    return manifest


def _line(name: str, outcome: Outcome, seconds: float) -> str:
    how = outcome.mode
    if outcome.mode == "incremental":
        days = outcome.refreshed_days or []
        shown = ", ".join(d for d in days[:3]) + (", ..." if len(days) > 3 else "")
        how = f"incremental ({len(days)} day{'s' if len(days) != 1 else ''}: {shown})"
    return f"{name}: {outcome.rows:,} rows, {how}, {seconds:.1f}s"


def summary(manifest: dict, out: Path | None = None) -> dict:
    """What a run did (the tables it refreshed), small enough for an asset event's extra and a
    log line."""
    extracts = {n: manifest["extracts"][n] for n in manifest["this_run"]}
    modes = {
        m: sorted(n for n, e in extracts.items() if e["mode"] == m)
        for m in ("full", "incremental", "unchanged")
    }
    return {
        "extracts": len(extracts),
        "rows": sum(e["rows"] for e in extracts.values()),
        "full": modes["full"],
        "incremental": {n: extracts[n]["refreshed_days"] for n in modes["incremental"]},
        "unchanged": len(modes["unchanged"]),
        "not_built": manifest["not_built"],
        "seconds": manifest["seconds"],
        "target": manifest["target"],
        "out": str(out or default_out_dir()),
    }


def refresh_task() -> dict:
    """The ``publish_bi`` task of the ``bi_serving`` DAG: refresh every extract; the summary
    becomes the ``bi_extracts`` asset event's extra."""
    out = default_out_dir()
    return summary(refresh(out=out, say=lambda line: print(line, flush=True)), out)


# --------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write a Tableau .hyper extract per mart and metrics table, refreshing the incremental "
        "facts day by day, and the manifest extracts.json beside them."
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder of the extracts (default: BI_EXTRACTS_DIR or "
        "<PLATFORM_LOCAL_DIR or .local>/bi/extracts)",
    )
    parser.add_argument(
        "--tables", nargs="+", metavar="NAME", help="only these tables (model names)"
    )
    parser.add_argument("--full", action="store_true", help="rewrite every file whole")
    parser.add_argument(
        "--dbt-manifest",
        type=Path,
        help="the dbt manifest naming the tables (default: DBT_MANIFEST_PATH or "
        "dbt_project/target/manifest.json)",
    )
    parser.add_argument("--quiet", action="store_true", help="only the summary line")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out or default_out_dir()).resolve()
    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    manifest = refresh(out, args.tables, args.full, args.dbt_manifest, say=say)
    s = summary(manifest, out)
    print(
        f"{s['extracts']} extract{'s' if s['extracts'] != 1 else ''}, {s['rows']:,} rows ({len(s['full'])} rewritten, "
        f"{len(s['incremental'])} refreshed by day, {s['unchanged']} unchanged) in "
        f"{s['seconds']:.1f}s -> {out}"
    )
    return 0
