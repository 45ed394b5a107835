"""Which dbt build made the features: the manifest's hash and dbt invocation id, for MLflow tags.

The marts are built from the manifest the transform DAG renders from
(``platform_core.paths.manifest_path()``, ``DBT_MANIFEST_PATH``); ``ML_DBT_TARGET`` (a
path-separated list of dbt target folders) is looked at first, for runs outside Airflow. Where a
``run_results.json`` lies next to the manifest, its invocation (the build) is recorded; otherwise
the manifest's own (the parse that produced it).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def _targets() -> list[Path]:
    from platform_core.paths import DBT_PROJECT, manifest_path

    paths = [Path(p) for p in os.environ.get("ML_DBT_TARGET", "").split(os.pathsep) if p]
    return [*paths, manifest_path().parent, DBT_PROJECT / "target"]


def dbt_lineage() -> dict[str, str]:
    for target in _targets():
        manifest = target / "manifest.json"
        if not manifest.is_file():
            continue
        raw = manifest.read_bytes()
        meta = json.loads(raw).get("metadata", {})
        invocation, source = meta.get("invocation_id", "unknown"), "manifest"
        results = target / "run_results.json"
        if results.is_file():
            run = json.loads(results.read_text()).get("metadata", {})
            invocation, source = run.get("invocation_id", invocation), "run_results"
        return {
            "dbt_invocation_id": invocation,
            "dbt_invocation_from": source,
            "dbt_manifest_sha256": hashlib.sha256(raw).hexdigest()[:16],
            "dbt_target_path": str(target),
        }
    return {"dbt_invocation_id": "unknown", "dbt_manifest_sha256": "unknown"}
