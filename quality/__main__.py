"""``python -m quality``: Great Expectations checks, freshness and anomaly detection.

    python -m quality check --layer bronze|marts [--date D]
    python -m quality freshness
    python -m quality anomalies [--date D]
    python -m quality docs [--screenshot PNG]
    python -m quality dbt-results [--path dbt_project/target]

Exit code 0 when clean, 1 on an error-severity finding, 2 on a usage error. Results go to
``quality.check_results``, ``quality.freshness_results`` and ``quality.anomaly_results`` of the
warehouse ``WAREHOUSE_TARGET`` names (``dbt-results`` reads dbt's own run_results.json and writes
nothing); a run with warnings or errors sends ONE alert, grouped by table, through
``SLACK_WEBHOOK_URL`` / ``SMTP_*`` (nothing configured: no alert is sent). Output and alerts name
checks and columns and show masked samples only (``ingestion/pii.py``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

from . import tasks
from .settings import data_docs_url


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (use YYYY-MM-DD)") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m quality", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="run the Great Expectations suites of one layer")
    c.add_argument("--layer", required=True, choices=["bronze", "marts"])
    c.add_argument("--date", type=_day, help="only that day's files / rows (default: all)")
    sub.add_parser("freshness", help="dbt source freshness and mart lag against the SLAs")
    a = sub.add_parser("anomalies", help="score one day with every monitor family")
    a.add_argument(
        "--date",
        type=_day,
        help="the day to score (default: the newest day of any file the loader saw, loaded or "
        "skipped)",
    )
    d = sub.add_parser("docs", help="rebuild the Data Docs (and screenshot them)")
    d.add_argument("--screenshot", type=Path, help="write a PNG of the index (headless Chromium)")
    r = sub.add_parser("dbt-results", help="alert on the dbt tests that warned, failed or errored")
    r.add_argument(
        "--path", type=Path, help="dbt target directory with run_results.json + manifest.json"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return p


def _line(summary: dict) -> str:
    return (
        f"{summary['errors']} error(s), {summary['warnings']} warning(s), "
        f"{summary['alerts']} alert(s), {summary['seconds']} s -> {summary['table']}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        if args.command == "check":
            s = tasks.check_layer(args.layer, args.date)
            for name in s["failed"]:
                print(f"  failed  {name}")
            print(
                f"quality check {args.layer}: {s['suites']} suites, {s['expectations']} "
                f"expectations, {_line(s)}; Data Docs {data_docs_url()}"
            )
        elif args.command == "freshness":
            s = tasks.check_freshness()
            for name in s["failed"]:
                print(f"  not fresh  {name}")
            print(f"quality freshness: {s['checks']} checks, {_line(s)}")
        elif args.command == "docs":
            from . import data_docs

            index = data_docs.build()
            shot = data_docs.screenshot(args.screenshot, index) if args.screenshot else None
            print(
                f"quality docs: {index} (served at {data_docs_url()} by `make docs`)"
                + (f", screenshot {shot}" if shot else "")
            )
            return 0
        elif args.command == "dbt-results":
            s = tasks.check_dbt_results(args.path)
            for name in s["failed"]:
                place, test, status = name.rsplit(":", 2)
                print(f"  {status:<5}  {place}  {test}")
            print(f"quality dbt-results {s['invocation_id'] or '-'}: {_line(s)}")
        else:
            s = tasks.check_anomalies(args.date)
            for finding in s["findings"]:
                print(f"  anomaly  {finding}")
            counts = ", ".join(f"{v} {k}" for k, v in sorted(s["statuses"].items()))
            print(
                f"quality anomalies {s['date']} ({s['day_from']}): {s['metrics']} scores "
                f"({counts}), {_line(s)}"
            )
    except (RuntimeError, FileNotFoundError, ValueError) as err:
        print(f"python -m quality {args.command}: {err}", file=sys.stderr)
        return 1
    return 1 if s["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
