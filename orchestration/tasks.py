"""What the DAGs' tasks do. DAG files stay thin: they wire these functions into tasks.

Each function takes plain values, returns a small JSON-able summary (it lands in XCom and in the
run summary) and raises with a clear message when the work failed.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from platform_core.paths import landing_dir


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


def dbt_command(target: str, *args: str, target_path: Path | None = None) -> dict:
    """``dbt <args>`` on the project through the one in-process runner
    (:mod:`platform_core.dbt_runner`): the warehouse is released when it returns; a failure
    raises with dbt's own error lines."""
    from platform_core.dbt_runner import run

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
        "tests": kinds.get("test", 0),
        "unit_tests": len(doc.get("unit_tests", {})),
    }
