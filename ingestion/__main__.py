"""Command line: ``python -m ingestion load --date 2026-01-05`` and ``python -m ingestion status``.

Exit codes of ``load``: 0 everything loaded or skipped; 1 a file failed (or the warehouse could
not be reached); 2 a usage error; 3 nothing failed but files are still waiting for their
readiness manifest. Problems are one line each, never a traceback (``INGEST_DEBUG=1`` adds it).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from datetime import date
from pathlib import Path

from .backends import get_backend
from .backends.base import AUDIT_TABLE
from .config import TARGETS, Settings
from .landing import FileProblem, discover, shown, strays
from .loader import LoadReport, load_files, one_line


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingestion",
        description="Load landing-zone CSVs into the bronze schema of the warehouse chosen by "
        f"WAREHOUSE_TARGET ({', '.join(TARGETS)}).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="load daily files (one day, a range, or all)")
    which = load.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=_date, help="load one day, YYYY-MM-DD")
    which.add_argument("--from", dest="start", type=_date, help="first day of a range (with --to)")
    which.add_argument("--all", action="store_true", help="load every file in the landing zone")
    load.add_argument("--to", dest="end", type=_date, help="last day of a range (with --from)")
    load.add_argument(
        "--landing",
        type=Path,
        default=None,
        help="landing folder (default: $LANDING_DIR or data/landing)",
    )
    load.add_argument("--tables", default=None, help="comma list of tables (default: all)")
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    status = sub.add_parser("status", help="print the load audit as a table")
    status.add_argument("--files", action="store_true", help="one line per file load")
    status.add_argument("--limit", type=int, default=50, help="rows with --files (default 50)")
    seal = sub.add_parser(
        "seal", help="write a day's readiness manifest from its files as they are now"
    )
    seal.add_argument("--date", type=_date, required=True, help="the day, YYYY-MM-DD")
    seal.add_argument("--landing", type=Path, default=None, help="landing folder")
    sub.add_parser(
        "roles",
        help="PostgreSQL: create/update the reader and pipeline roles (run as a superuser)",
    )
    sources = sub.add_parser("dbt-sources", help="print (or --write) dbt sources for bronze")
    sources.add_argument(
        "--write", action="store_true", help="write dbt_project/models/staging/_sources.yml"
    )
    return parser


def _table(headers: list[str], rows: list[list]) -> str:
    cells = [
        [f"{v:,}" if isinstance(v, int) else ("" if v is None else str(v)) for v in r] for r in rows
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]

    def line(values):
        return "  ".join(
            v.rjust(w) if i else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def print_report(report: LoadReport, where: str) -> None:
    rows = [
        [
            t,
            s["loaded"],
            s["skipped"],
            s["failed"],
            s["waiting"],
            s["rows_read"],
            s["rows_loaded"],
            s["rows_rejected"],
        ]
        for t, s in report.by_table().items()
    ]
    print(
        _table(
            [
                "table",
                "loaded",
                "skipped",
                "failed",
                "waiting",
                "rows read",
                "rows loaded",
                "rejected",
            ],
            rows,
        )
    )
    for r in report.failed:
        print(f"FAILED {shown(r.message or '', 400)}", file=sys.stderr)
    for r in report.waiting:
        print(f"WAITING {shown(r.message or '', 400)}", file=sys.stderr)
    for r in report.ignored:
        print(f"IGNORED {shown(r.name, 120)}: {r.message}", file=sys.stderr)
    for r in report.results:
        if r.schema_drift:
            print(f"schema drift in {r.name}: {r.schema_drift}")
        if r.replaced:
            print(f"new version of {r.name}: its rows replace the earlier version's")
    print(
        f"{report.count('loaded')} files loaded, {report.count('skipped')} skipped, "
        f"{report.count('failed')} failed, {report.count('waiting')} waiting: "
        f"{report.rows_loaded:,} rows loaded, "
        f"{report.rows_rejected:,} rejected (see bronze._rejects) in {report.seconds:.1f}s "
        f"into {where} (batch {report.batch_id})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _main(parser, args)
    except (FileProblem, OSError, RuntimeError, ValueError, ImportError) as exc:
        # the warehouse cannot be reached, is locked, a setting is wrong...: one line, no traceback
        if os.environ.get("INGEST_DEBUG") == "1":
            traceback.print_exc()
        print(f"error: {shown(one_line(exc), 500)}", file=sys.stderr)
        return 1
    except Exception as exc:  # an engine's own error class (psycopg, duckdb, pyspark...)
        if os.environ.get("INGEST_DEBUG") == "1":
            traceback.print_exc()
        print(f"error: {shown(one_line(exc), 500)}", file=sys.stderr)
        return 1


def _main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "dbt-sources":
        from .dbt_sources import render_sources, write_sources

        print(f"wrote {write_sources()}" if args.write else render_sources(), end="\n")
        return 0
    try:
        settings = Settings.from_env(landing=getattr(args, "landing", None))
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "roles":
        return _roles(settings)
    where = f"duckdb {settings.duckdb_path}" if settings.target == "duckdb" else settings.target
    if args.command == "seal":
        from .readiness import seal_day

        names = [f.name for f in discover(settings.landing, start=args.date, end=args.date)]
        if not names:
            print(f"error: no landing files for {args.date} in {settings.landing}", file=sys.stderr)
            return 2
        try:
            path = seal_day(settings.landing, args.date, names)
        except FileProblem as exc:
            print(f"error: {exc} (nothing sealed)", file=sys.stderr)
            return 1
        print(f"wrote {path} ({len(names)} files)")
        return 0
    if args.command == "load":
        if args.start and not args.end:
            parser.error("--from needs --to")
        if args.end and not args.start:
            parser.error("--to needs --from")
        start, end = (args.date, args.date) if args.date else (args.start, args.end)
        tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
        try:
            files = discover(settings.landing, tables, start, end)
        except (FileProblem, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not files:
            print(
                f"error: no landing files in {settings.landing} for the chosen days",
                file=sys.stderr,
            )
            return 2
        with get_backend(settings) as backend:
            report = load_files(
                backend,
                files,
                progress=not args.quiet and sys.stderr.isatty(),
                require_manifest=settings.require_manifest,
                max_columns=settings.max_columns,
                strays=strays(settings.landing, tables),
            )
        print_report(report, where)
        return report.exit_code

    with get_backend(settings) as backend:
        backend.ensure_schema()
        audit = f"{backend.schema}.{AUDIT_TABLE}"
        if args.files:
            rows = backend.query(
                f"select finished_at, table_name, file_path, status, rows_read, rows_loaded, "
                f"rows_rejected, coalesce(schema_drift, message, '') from {audit} "
                f"order by finished_at desc, file_path limit {max(0, int(args.limit))}"
            )
            rows = [[*r[:2], shown(str(r[2]), 60), *r[3:7], shown(str(r[7]), 80)] for r in rows]
            print(
                _table(
                    ["finished", "table", "file", "status", "read", "loaded", "rejected", "note"],
                    [[str(r[0])[:19], *r[1:]] for r in rows],
                )
            )
            return 0
        rows = backend.query(f"""
            select table_name,
                   sum(case when status = 'loaded' then 1 else 0 end),
                   sum(case when status = 'skipped' then 1 else 0 end),
                   sum(case when status = 'failed' then 1 else 0 end),
                   sum(rows_read), sum(rows_loaded), sum(rows_rejected), max(finished_at)
            from {audit} group by table_name order by table_name""")
    print(f"bronze load audit ({where})")
    print(
        _table(
            [
                "table",
                "files loaded",
                "skipped",
                "failed",
                "rows read",
                "rows loaded",
                "rejected",
                "last load",
            ],
            [
                [
                    *(
                        int(v)
                        if isinstance(v, (int, float)) or hasattr(v, "as_integer_ratio")
                        else v
                        for v in r[:7]
                    ),
                    str(r[7])[:19],
                ]
                for r in rows
            ],
        )
    )
    return 0


def _roles(settings: Settings) -> int:
    """``roles``: see ingestion/roles.py."""
    from .backends.postgres import PostgresBackend
    from .roles import RolesError, RoleSettings, setup_roles

    if settings.target != "postgres":
        print(
            f"error: roles is for WAREHOUSE_TARGET=postgres, not {settings.target}: a DuckDB "
            "file has no roles, and on Snowflake and Databricks dbt grants the reader role "
            "(dbt_project.yml) that your administrator creates",
            file=sys.stderr,
        )
        return 2
    try:
        report = setup_roles(
            PostgresBackend.conninfo(settings.env), RoleSettings.from_env(settings.env)
        )
    except (ValueError, RolesError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
