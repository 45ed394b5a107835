"""Command line: ``python -m data_generator --start 2026-01-01 --days 30 --scale 1 --seed 42``."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from . import DEFAULT_FAULT_RATE, FAULTS, generate, parse_fault_names


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"must be in (0, 1000], got {value}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 0.2:
        raise argparse.ArgumentTypeError(f"must be in (0, 0.2], got {value}")
    return value


def _faults(text: str) -> tuple[str, ...]:
    try:
        return parse_fault_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_generator",
        description=(
            "Write the synthetic company's source data as daily CSV batches: "
            "<out>/<table>/<YYYY-MM-DD>.csv for 14 tables, plus _manifest.json "
            "(rows per file) and, with --faults, _faults.json (every injected fault)."
        ),
        epilog="Same arguments and seed give byte-identical files; no date comes from the clock.",
    )
    parser.add_argument(
        "--start",
        type=_date,
        default=date(2026, 1, 1),
        help="first day of data, YYYY-MM-DD (default: 2026-01-01)",
    )
    parser.add_argument(
        "--days",
        type=_positive_int,
        default=None,
        help="number of daily batches to write (default: 30, or up to --only-day)",
    )
    parser.add_argument(
        "--only-day",
        type=_date,
        default=None,
        metavar="DATE",
        help="write only this day's batch, byte-identical to a full run's (the company is "
        "still simulated from --start); the daily ingestion DAG uses it",
    )
    parser.add_argument(
        "--scale",
        type=_scale,
        default=1.0,
        help="volume multiplier: 1 is about 1,100 orders and 2,700 order lines "
        "a day (1M lines a year); 10 is about 10M lines a year (default: 1)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/landing"),
        help="landing-zone folder to write into (default: data/landing)",
    )
    parser.add_argument(
        "--faults",
        type=_faults,
        default=(),
        metavar="NAMES",
        help=f"inject faults: 'all' or a comma list of {', '.join(FAULTS)} (default: none)",
    )
    parser.add_argument(
        "--fault-rate",
        type=_rate,
        default=DEFAULT_FAULT_RATE,
        metavar="RATE",
        help="share of rows hit by each row fault, per file "
        f"(default: {DEFAULT_FAULT_RATE}); each fault appears at least once",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    days = args.days
    if args.only_day is not None:
        if args.only_day < args.start:
            parser.error(f"--only-day {args.only_day} is before --start {args.start}")
        needed = (args.only_day - args.start).days + 1
        if days is not None and days < needed:
            parser.error(f"--only-day {args.only_day} is after the last of --days {days}")
        days = days or needed
    result = generate(
        start=args.start,
        days=days or 30,
        scale=args.scale,
        seed=args.seed,
        out=args.out,
        faults=args.faults,
        fault_rate=args.fault_rate,
        progress=not args.quiet and sys.stderr.isatty(),
        only_day=args.only_day,
    )
    faults = f", {len(result.faults)} faults in _faults.json" if result.faults else ""
    print(
        f"wrote {len(result.files):,} files, {result.rows:,} rows "
        f"({result.rows_per_table['order_lines']:,} order lines) to {result.out} in "
        f"{result.seconds:.1f}s ({result.rows / result.seconds:,.0f} rows/s){faults}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
