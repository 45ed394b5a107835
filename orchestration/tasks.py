"""What the DAGs' tasks do. DAG files stay thin: they wire these functions into tasks.

Each function takes plain values, returns a small JSON-able summary (it lands in XCom and in the
run summary) and raises with a clear message when the work failed.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DBT_PROJECT = REPO / "dbt_project"


def landing_dir() -> Path:
    return Path(os.environ.get("LANDING_DIR") or REPO / "data" / "landing")


def generate_batch(day: date, start: date, scale: float, seed: int) -> dict:
    """Write the landing-zone files of ``day`` (the company simulated from ``start``)."""
    from data_generator import generate

    if day < start:
        raise ValueError(f"logical date {day} is before the company's first day {start}")
    result = generate(
        start=start,
        days=(day - start).days + 1,
        scale=scale,
        seed=seed,
        out=landing_dir(),
        only_day=day,
    )
    return {
        "day": day.isoformat(),
        "files": len(result.files),
        "rows": sum(result.files.values()),
        "landing": str(result.out),
    }


def load_batch(day: date) -> dict:
    """Load ``day``'s landing files into bronze; fail if a file could not be loaded."""
    from ingestion.backends import get_backend
    from ingestion.config import Settings
    from ingestion.landing import discover, strays
    from ingestion.loader import load_files

    settings = Settings.from_env(landing=landing_dir())
    files = discover(settings.landing, start=day, end=day)
    if not files:
        raise FileNotFoundError(f"no landing files for {day} under {settings.landing}")
    with get_backend(settings) as backend:
        report = load_files(
            backend,
            files,
            require_manifest=settings.require_manifest,
            max_columns=settings.max_columns,
            strays=strays(settings.landing),
        )
    summary = {
        "day": day.isoformat(),
        "target": report.target,
        "batch_id": report.batch_id,
        "files_loaded": report.count("loaded"),
        "files_skipped": report.count("skipped"),
        "files_failed": report.count("failed"),
        "rows_loaded": report.rows_loaded,
        "rows_rejected": report.rows_rejected,
    }
    if report.failed:
        problems = "; ".join(r.message or r.name for r in report.failed)
        raise RuntimeError(f"{len(report.failed)} file(s) failed to load for {day}: {problems}")
    if report.waiting:  # not complete yet: fail this try, Airflow retries later
        problems = "; ".join(r.message or r.name for r in report.waiting)
        raise RuntimeError(f"{len(report.waiting)} file(s) not ready for {day}: {problems}")
    return summary


def manifest_path() -> Path:
    """Where ``dbt parse`` writes the manifest the transform DAG renders from."""
    default = DBT_PROJECT / "target" / "manifest.json"
    return Path(os.environ.get("DBT_MANIFEST_PATH") or default).resolve()


def duckdb_path() -> Path:
    return Path(os.environ.get("DUCKDB_PATH") or REPO / ".local" / "warehouse.duckdb").resolve()


def pii_hash_key() -> str:
    """The key dbt hashes personal data under: ``$PII_HASH_KEY``, else the local key file
    ``.local/pii_hash_key``, created on first use (32 random bytes as hex, readable by you only)
    with one line on stderr saying so. Keep it: a new key changes every hash (README, Security)."""
    key = os.environ.get("PII_HASH_KEY", "").strip()
    if key:
        return key
    import secrets

    from .home import local_dir

    path = local_dir() / "pii_hash_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".pii_hash_key.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)  # atomic: a key another process made at the same time wins
            print(
                f"PII_HASH_KEY is not set: created a local key in {path} (keep it: a new key "
                "changes every personal-data hash; see README.md, Security)",
                file=sys.stderr,
            )
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def dbt_env(target: str) -> dict[str, str]:
    """dbt's environment: the same target and (absolute) DuckDB file as the loader's, and the
    key of the personal-data hashes."""
    return {
        **os.environ,
        "DBT_PROFILES_DIR": str(DBT_PROJECT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "WAREHOUSE_TARGET": target,
        "DUCKDB_PATH": str(duckdb_path()),
        "PII_HASH_KEY": pii_hash_key(),
    }


def dbt_executable() -> str:
    """dbt from this environment (for a person's ``make dbt``; the platform's own calls go
    through :mod:`orchestration.dbt_runner`, in-process)."""
    return str(Path(sys.executable).parent / "dbt")


def dbt_command(target: str, *args: str, target_path: Path | None = None) -> dict:
    """``dbt <args>`` on the project through the one in-process runner
    (:mod:`orchestration.dbt_runner`): the warehouse is released when it returns; a failure
    raises with dbt's own error lines."""
    from .dbt_runner import run

    return run(target, *args, target_path=target_path)


def source_freshness(target: str) -> dict:
    """``dbt source freshness``: error-level staleness fails the task (and alerts)."""
    return dbt_command(target, "source", "freshness")


def marts_summary(target: str, manifest: Path) -> dict:
    """Models and tests the transform DAG ran, counted from the manifest it was rendered from."""
    doc = json.loads(manifest.read_text())
    kinds: dict[str, int] = {}
    for node in doc["nodes"].values():
        kinds[node["resource_type"]] = kinds.get(node["resource_type"], 0) + 1
    return {
        "target": target,
        "models": kinds.get("model", 0),
        "snapshots": kinds.get("snapshot", 0),
        "tests": kinds.get("test", 0),
        "unit_tests": len(doc.get("unit_tests", {})),
    }
