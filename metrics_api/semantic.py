"""The semantic layer in a warm process: dbt's semantic manifest, MetricFlow's engine, the catalog.

MetricFlow compiles every query (its Python API, ``MetricFlowEngine.explain``) in the SQL dialect of
the configured warehouse; the SQL runs through :mod:`metrics_api.engine`, so MetricFlow itself never
connects anywhere (its SQL client here compiles only). The engine is built once at start-up (about
a second); compiling a query then takes 0.1-0.3 s, and compiled SQL is kept per query.

The manifest is dbt's ``semantic_manifest.json`` for the API's target: relations in it name the
database and schemas of that target. ``SEMANTIC_MANIFEST`` points at one; otherwise
:func:`ensure_manifest` runs ``dbt parse`` for the target into ``API_STATE_DIR`` when the models
changed since the last parse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from platform_core.settings import REPO as ROOT

from .settings import ApiSettings

DBT_PROJECT = ROOT / "dbt_project"
GRAINS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    description: str
    type: str
    dimensions: tuple[str, ...]  # group-by names, time dimensions without a grain
    time_dimensions: tuple[str, ...]


def ensure_manifest(settings: ApiSettings) -> Path:
    """The semantic manifest for ``settings.target``: the given one, or a fresh ``dbt parse``."""
    if settings.semantic_manifest is not None:
        if not settings.semantic_manifest.is_file():
            raise FileNotFoundError(
                f"SEMANTIC_MANIFEST={settings.semantic_manifest} does not exist: run `dbt parse` "
                "for this target (it writes target/semantic_manifest.json) or unset it"
            )
        return settings.semantic_manifest
    target_dir = settings.state_dir / settings.target
    manifest = target_dir / "semantic_manifest.json"
    sources = [p for p in (DBT_PROJECT / "models").rglob("*") if p.is_file()]
    sources += [DBT_PROJECT / "dbt_project.yml", DBT_PROJECT / "profiles.yml"]
    newest = max(p.stat().st_mtime for p in sources)
    if manifest.is_file() and manifest.stat().st_mtime >= newest:
        return manifest
    dbt = Path(sys.executable).parent / "dbt"
    env = {
        **settings.env,
        "WAREHOUSE_TARGET": settings.target,
        "DUCKDB_PATH": str(settings.duckdb_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [
        str(dbt),
        "parse",
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target",
        settings.target,
        "--target-path",
        str(target_dir),
        "--log-path",
        str(settings.state_dir / "logs"),
        "--no-version-check",
        "--quiet",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0 or not manifest.is_file():
        raise RuntimeError(
            f"`dbt parse` for target {settings.target} failed ({done.returncode}); dbt said:\n"
            f"{(done.stdout + done.stderr)[-4000:]}"
        )
    return manifest


class _CompileOnlyClient:
    """The SQL client MetricFlow asks for: the dialect's renderer, and no connection at all."""

    def __init__(self, dialect: str):
        from metricflow.protocols.sql_client import SqlEngine

        if dialect == "duckdb":
            from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer

            self.sql_engine_type, self.sql_plan_renderer = SqlEngine.DUCKDB, DuckDbSqlPlanRenderer()
        elif dialect == "postgres":
            from metricflow.sql.render.postgres import PostgresSQLSqlPlanRenderer

            self.sql_engine_type = SqlEngine.POSTGRES
            self.sql_plan_renderer = PostgresSQLSqlPlanRenderer()
        else:
            raise NotImplementedError(f"no MetricFlow dialect wired for {dialect!r}")

    def render_bind_parameter_key(self, key: str) -> str:
        return f"${key}"

    def _refuse(self, *args, **kwargs):
        raise RuntimeError("the metrics API compiles with MetricFlow and runs SQL in engine.py")

    query = execute = dry_run = _refuse

    def close(self) -> None:
        pass


class SemanticLayer:
    """MetricFlow's engine over one semantic manifest, and the catalog of its metrics."""

    def __init__(self, manifest_path: Path, dialect: str, compiled_entries: int = 1024):
        from metricflow.engine.metricflow_engine import MetricFlowEngine
        from metricflow_semantics.model.dbt_manifest_parser import (
            parse_manifest_from_dbt_generated_manifest,
        )
        from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

        raw = Path(manifest_path).read_text()
        doc = json.loads(raw)
        self.manifest_path = Path(manifest_path)
        self.loaded_at = datetime.fromtimestamp(os.path.getmtime(manifest_path)).isoformat()
        self.database = _database(doc)
        self.spine = _spine(doc)
        manifest = parse_manifest_from_dbt_generated_manifest(manifest_json_string=raw)
        self._engine = MetricFlowEngine(
            semantic_manifest_lookup=SemanticManifestLookup(manifest),
            sql_client=_CompileOnlyClient(dialect),
        )
        self._lock = threading.Lock()  # MetricFlow's id generator is process-global
        self._compiled: OrderedDict[str, str] = OrderedDict()
        self._compiled_entries = compiled_entries
        defined = {m["name"] for m in doc["metrics"]}  # not the proxies MetricFlow adds
        # ratio -> its denominator (how many things a rate was measured over)
        self.denominators = {
            m["name"]: m["type_params"]["denominator"]["name"]
            for m in doc["metrics"]
            if m["type"] == "ratio" and m["type_params"].get("denominator")
        }
        self.metrics: dict[str, MetricInfo] = {}
        for metric in self._engine.list_metrics():
            if metric.name not in defined:
                continue
            names, times = set(), set()
            for dim in metric.dimensions:
                name = dim.granularity_free_dunder_name
                names.add(name)
                if dim.type.value.lower() == "time":
                    times.add(name)
            self.metrics[metric.name] = MetricInfo(
                name=metric.name,
                label=metric.label or metric.name,
                description=metric.description or "",
                type=metric.type.value.lower(),
                dimensions=tuple(sorted(names)),
                time_dimensions=tuple(sorted(times)),
            )

    def dimensions_for(self, metrics: list[str]) -> set[str]:
        """Group-by names every one of ``metrics`` can be grouped by."""
        sets = [set(self.metrics[m].dimensions) for m in metrics]
        return set.intersection(*sets) if sets else set()

    def time_dimensions_for(self, metrics: list[str]) -> set[str]:
        sets = [set(self.metrics[m].time_dimensions) for m in metrics]
        return set.intersection(*sets) if sets else set()

    def compile(self, key: str, request) -> str:
        """The SQL of a ``MetricFlowQueryRequest`` (``key``: its normalised form)."""
        with self._lock:
            sql = self._compiled.get(key)
            if sql is not None:
                self._compiled.move_to_end(key)
                return sql
            sql = self._engine.explain(request).sql_statement.sql
            self._compiled[key] = sql
            if len(self._compiled) > self._compiled_entries:
                self._compiled.popitem(last=False)
            return sql


def _database(doc: dict) -> str | None:
    for model in doc.get("semantic_models", []):
        relation = model.get("node_relation") or {}
        if relation.get("database"):
            return relation["database"]
    return None


def _spine(doc: dict) -> str | None:
    spines = doc.get("project_configuration", {}).get("time_spines", [])
    if not spines:
        return None
    relation = spines[0]["node_relation"]
    return relation.get("relation_name") or f"{relation['schema_name']}.{relation['alias']}"
