"""dbt test results that need a look: the ``warn``, ``fail`` and ``error`` results of tests and
unit tests in dbt's ``run_results.json``, named and placed (model, column) from the
``manifest.json`` beside it. :func:`quality.alerting.dbt_alerts` turns them into alerts.

The target directory is the one given, else ``QUALITY_DBT_TARGET``, else the directory of
``DBT_MANIFEST_PATH``, else the first of ``dbt_project/target/airflow``
(``platform_core.dbt_runner.run``) and ``dbt_project/target`` that holds a
``run_results.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import REPO

DBT_TARGETS = (REPO / "dbt_project" / "target" / "airflow", REPO / "dbt_project" / "target")
NEEDS_A_LOOK = ("warn", "fail", "error")
TEST_TYPES = ("test", "unit_test")


@dataclass(frozen=True)
class DbtResult:
    """One test result that is not a pass."""

    unique_id: str
    name: str  # the test's node name (``unique_fct_orders_order_id``)
    test: str  # the generic test (``unique``, ``accepted_values``) or the node name
    status: str  # warn | fail | error
    failures: int | None  # failing rows (None when the test errored)
    message: str
    model: str | None  # the model, snapshot, seed or source (``source:bronze.orders``) tested
    column: str | None
    path: str  # the YAML or SQL file that defines the test
    invocation_id: str
    generated_at: str

    @property
    def severity(self) -> str:
        return "warning" if self.status == "warn" else "error"

    @property
    def where(self) -> str:
        place = self.model or self.unique_id
        return f"{place}.{self.column}" if self.column else place


def default_target(env: Mapping[str, str] | None = None) -> Path:
    """``QUALITY_DBT_TARGET``; else the directory of ``DBT_MANIFEST_PATH`` (the deployment's dbt
    target, as the DAGs use it); else the first repository target with a run_results.json."""
    env = os.environ if env is None else env
    if env.get("QUALITY_DBT_TARGET"):
        return Path(env["QUALITY_DBT_TARGET"])
    if env.get("DBT_MANIFEST_PATH"):
        return Path(env["DBT_MANIFEST_PATH"]).parent
    for target in DBT_TARGETS:
        if (target / "run_results.json").is_file():
            return target
    return DBT_TARGETS[-1]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}"
        ) from None


def _place(node: dict[str, Any], nodes: dict[str, Any], sources: dict[str, Any]) -> str | None:
    """The name of what a test node tests: its attached node, else the first thing it reads."""
    ids = [node.get("attached_node") or node.get("tested_node_unique_id")]
    ids += (node.get("depends_on") or {}).get("nodes") or []
    for uid in filter(None, ids):
        if uid in sources:
            s = sources[uid]
            return f"source:{s.get('source_name')}.{s.get('name')}"
        if uid in nodes:
            return nodes[uid].get("name") or uid
    if node.get("resource_type") == "unit_test" and node.get("model"):
        return node["model"]
    return None


def read(target: Path | None = None) -> list[DbtResult]:
    """The tests of the run in ``target`` that warned, failed or errored (in run order).

    ``run_results.json`` must exist; without ``manifest.json`` the results are named by their
    unique id only.
    """
    target = Path(target or default_target())
    results_path = target / "run_results.json"
    if not results_path.is_file():
        raise FileNotFoundError(
            f"no dbt run_results.json in {target}: run `dbt build` (or pass --path / set "
            "QUALITY_DBT_TARGET to the target directory it wrote)"
        )
    run = _read_json(results_path)
    manifest_path = target / "manifest.json"
    manifest = _read_json(manifest_path) if manifest_path.is_file() else {}
    nodes = manifest.get("nodes") or {}
    unit_tests = manifest.get("unit_tests") or {}
    sources = manifest.get("sources") or {}
    meta = run.get("metadata") or {}
    out = []
    for r in run.get("results") or []:
        uid = r.get("unique_id", "")
        if r.get("status") not in NEEDS_A_LOOK or uid.split(".", 1)[0] not in TEST_TYPES:
            continue
        node = nodes.get(uid) or unit_tests.get(uid) or {}
        generic = (node.get("test_metadata") or {}).get("name")
        failures = r.get("failures")
        out.append(
            DbtResult(
                unique_id=uid,
                name=node.get("name") or (uid.split(".")[2] if uid.count(".") >= 2 else uid),
                test=generic or node.get("name") or uid,
                status=r["status"],
                failures=int(failures) if isinstance(failures, int) else None,
                message=" ".join(str(r.get("message") or "").split())[:500],
                model=_place(node, nodes, sources),
                column=node.get("column_name"),
                path=node.get("original_file_path") or "",
                invocation_id=meta.get("invocation_id", "unknown"),
                generated_at=meta.get("generated_at", ""),
            )
        )
    return out
