"""``python -m orchestration setup|manifest|run|env|serve|pii-key|dbt``: the local Airflow for this
repo, and dbt on its warehouse."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

from platform_core.settings import current

#: dbt commands that never open the warehouse: they run without one.
DBT_OFFLINE = ("", "parse", "ls", "list", "deps", "clean", "--version", "--help", "-h", "help")


def dbt(args: list[str]) -> int:
    """``dbt <args>`` in ``dbt_project/`` on the local warehouse (``make dbt ARGS=...``), with the
    environment the pipeline gives dbt: ``WAREHOUSE_TARGET``, the absolute ``DUCKDB_PATH``, the
    profiles in the project and ``PII_HASH_KEY``. On DuckDB without a warehouse file it says so in
    one line and returns 2, instead of dbt failing on an empty database."""
    import subprocess

    target, path = current().target, current().duckdb_path
    if target == "duckdb" and not path.is_file() and (args[:1] or [""])[0] not in DBT_OFFLINE:
        print(f"no warehouse at {path}: run make run first", file=sys.stderr)
        return 2
    os.environ["DUCKDB_PATH"] = str(path)

    from platform_core.dbt_runner import dbt_env, dbt_executable
    from platform_core.paths import DBT_PROJECT

    env = dbt_env(target)  # the key comes from $PII_HASH_KEY or .local/pii_hash_key
    return subprocess.run(
        [dbt_executable(), *args], cwd=DBT_PROJECT, env=env, check=False
    ).returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["dbt"]:  # every later argument is dbt's, options included
        return dbt(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m orchestration", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="migrate the SQLite metadata DB and create the warehouse pool")
    sub.add_parser("manifest", help="dbt parse: the manifest the transform DAG is rendered from")
    run = sub.add_parser("run", help="run the four DAGs with Airflow's runner, in asset order")
    run.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help="first logical date (default: $PIPELINE_START, platform_core/settings.py)",
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
        "dbt",
        help="dbt <args> on the local warehouse, with PII_HASH_KEY and the project's profiles "
        "(make dbt ARGS=...); exit 2 when there is no warehouse yet",
    )
    sub.add_parser(
        "pii-key",
        help="print the PII hash key ($PII_HASH_KEY, else .local/pii_hash_key, made on first use)",
    )
    args = parser.parse_args(argv)

    from platform_core.pii_key import pii_hash_key

    from .home import airflow_env

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

        print(f"manifest built in {build_manifest(current().target):.1f}s")
        return 0
    from .run import main as run_main

    start = args.start or current().get("PIPELINE_START")
    os.environ.setdefault("PIPELINE_START", start.isoformat())
    return run_main(start, args.days, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
