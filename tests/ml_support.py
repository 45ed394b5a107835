"""A real warehouse for the ML tests: generated data loaded into DuckDB and the marts the models
read built by dbt, with MLflow (SQLite) and alert state in the same temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from data_generator import generate
from tests.dbt_support import run_dbt

ROOT = Path(__file__).resolve().parent.parent
#: What the two models read.
MARTS = ("+fct_shipments", "+fct_orders", "+fct_order_lines", "+dim_product")


def ml_warehouse(
    work: Path, days: int = 120, scale: float = 0.1, seed: int = 42
) -> Iterator[dict[str, str]]:
    """Set up ``work`` and point this process's environment at it; restored afterwards."""
    landing = work / "landing"
    generate(start=date(2026, 1, 1), days=days, scale=scale, seed=seed, out=landing)
    e = {
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(work / "wh.duckdb"),
        "LANDING_DIR": str(landing),
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_LOCATION": (work / "artifacts").as_uri(),
        "ALERT_STATE_PATH": str(work / "alerts.sqlite"),
        "ALERT_SUPPRESS_MINUTES": "0",
        "ML_DBT_TARGET": str(work / "target"),
    }
    old = {k: os.environ.get(k) for k in e}
    os.environ.update(e)
    done = subprocess.run(
        [sys.executable, "-m", "ingestion", "load", "--all"],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    built = run_dbt(work, e, "run", "--select", *MARTS)
    assert built.returncode == 0, built.stdout[-4000:]
    yield e
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def gate(passed: bool) -> None:
    """Record a bronze quality-gate run that passed or failed (what ML promotion reads)."""
    from ingestion.warehouse import connect

    rows = pd.DataFrame(
        {
            "run_id": ["r-pass" if passed else "r-fail"],
            "checked_at": [pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))],
            "layer": ["bronze"],
            "check_date": [pd.Timestamp("2026-04-30")],
            "suite": ["bronze.shipments"],
            "expectation": ["expect_column_values_to_not_be_null"],
            "column_name": ["shipment_id"],
            "severity": ["error"],
            "success": [passed],
            "unexpected_count": [0 if passed else 3],
            "observed": ["0" if passed else "3"],
            "data_docs_url": [""],
        }
    )
    with connect() as wh:
        wh.write(rows, "quality", "check_results")


class Mailbox:
    """An SMTP server on 127.0.0.1 (aiosmtpd, a free port) keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        from email import message_from_bytes, policy

        self.messages.append(
            {
                "to": list(envelope.rcpt_tos),
                "message": message_from_bytes(envelope.content, policy=policy.default),
            }
        )
        return "250 Message accepted for delivery"

    def __enter__(self) -> Mailbox:
        import socket

        from aiosmtpd.controller import Controller

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


@contextmanager
def postgres_warehouse() -> Iterator[dict[str, str]]:
    """A fresh database on the local PostgreSQL server (dropped after): its warehouse env."""
    import uuid

    import psycopg

    db = f"ml_t{uuid.uuid4().hex[:10]}"
    admin = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
    with psycopg.connect(**admin, autocommit=True) as con:
        con.execute(f"create database {db}")
    try:
        yield {
            **os.environ,
            "WAREHOUSE_TARGET": "postgres",
            "PGHOST": "127.0.0.1",
            "PGPORT": "5432",
            "PGUSER": "postgres",
            "PGDATABASE": db,
        }
    finally:
        with psycopg.connect(**admin, autocommit=True) as con:
            con.execute(f"drop database if exists {db} with (force)")
