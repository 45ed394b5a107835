"""``python -m orchestration setup|manifest|run|env|serve|pii-key``: the local Airflow for this repo."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="migrate the SQLite metadata DB and create the warehouse pool")
    sub.add_parser("manifest", help="dbt parse: the manifest the transform DAG is rendered from")
    run = sub.add_parser("run", help="run the four DAGs with Airflow's runner, in asset order")
    run.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help="first logical date (default: $PIPELINE_START or 2026-01-01)",
    )
    run.add_argument("--days", type=int, default=14, help="days of ingestion (default: 14)")
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show Airflow's, dbt's and the libraries' logs here (default: .local/logs/run-*.log)",
    )
    sub.add_parser("env", help="print the local Airflow environment as shell exports")
    sub.add_parser("serve", help="a real local Airflow on 127.0.0.1 (make airflow); Ctrl-C stops")
    sub.add_parser(
        "pii-key",
        help="print the PII hash key ($PII_HASH_KEY, else .local/pii_hash_key, made on first use)",
    )
    args = parser.parse_args(argv)

    from .home import airflow_env
    from .tasks import pii_hash_key

    # Airflow reads its configuration when first imported: set it before anything imports it.
    os.environ.update(airflow_env())
    # every dbt run below (in-process, Cosmos, the served scheduler's tasks) inherits the key
    os.environ["PII_HASH_KEY"] = pii_hash_key()
    if args.command == "pii-key":
        print(os.environ["PII_HASH_KEY"])
        return 0
    if args.command == "env":
        keys = sorted(k for k in os.environ if k.startswith(("AIRFLOW", "DUCKDB", "PLATFORM")))
        for key in keys:
            print(f"export {key}='{os.environ[key]}'")
        return 0
    if args.command == "setup":
        from .home import setup

        setup(dict(os.environ))
        return 0
    if args.command == "serve":
        from .serve import serve

        return serve(dict(os.environ))
    if args.command == "manifest":
        from .run import build_manifest

        print(
            f"manifest built in {build_manifest(os.environ.get('WAREHOUSE_TARGET', 'duckdb')):.1f}s"
        )
        return 0
    from .run import main as run_main

    start = args.start or date.fromisoformat(os.environ.get("PIPELINE_START", "2026-01-01"))
    os.environ.setdefault("PIPELINE_START", start.isoformat())
    return run_main(start, args.days, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
