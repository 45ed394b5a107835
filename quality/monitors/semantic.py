"""The dbt semantic layer as the monitors read it: each monitored metric names a MetricFlow
metric of ``dbt_project/models/semantic/_metrics.yml`` and takes its measures (the SQL
expression and the aggregation) from ``_semantic_models.yml``, so a formula is written once, in
dbt. The two YAML files are read once per process (they are always in the repository; the
semantic manifest only exists after ``dbt parse``).

A simple metric is its measure; a ratio metric is the measure of its numerator metric over the
measure of its denominator metric. Measure aggregations map to SQL as MetricFlow renders them:
``sum`` -> ``sum(expr)``, ``sum_boolean`` -> ``sum(case when expr then 1 else 0 end)``,
``count`` -> ``count(expr)``; others (``count_distinct``, ``average``, ...) are not additive
over rows and days, so no monitor can use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from platform_core.paths import DBT_PROJECT

SEMANTIC_DIR = DBT_PROJECT / "models" / "semantic"
SEMANTIC_MODELS = SEMANTIC_DIR / "_semantic_models.yml"
METRICS_FILE = SEMANTIC_DIR / "_metrics.yml"

#: measure aggregation -> the SQL aggregate of a column holding the measure's expression
AGGREGATIONS = {
    "sum": "sum({})",
    "sum_boolean": "sum(case when {} then 1 else 0 end)",
    "count": "count({})",
}


class SemanticError(ValueError):
    """A monitor names a metric or measure the semantic layer does not define as it needs."""


@dataclass(frozen=True)
class Measure:
    name: str
    model: str  # the model the semantic model reads (``fct_shipments``)
    agg: str
    expr: str  # SQL over the model's own columns, unqualified

    def aggregate(self, column: str) -> str:
        """The measure's aggregate of ``column`` (a column holding ``expr``)."""
        if self.agg not in AGGREGATIONS:
            raise SemanticError(
                f"{SEMANTIC_MODELS}: measure {self.name!r} has agg {self.agg!r}; a monitor can "
                f"use only {', '.join(AGGREGATIONS)}"
            )
        return AGGREGATIONS[self.agg].format(column)


@dataclass(frozen=True)
class Layer:
    measures: dict[str, Measure]
    metrics: dict[str, dict]  # the metric entries of _metrics.yml by name

    def measures_of(self, metric: str) -> tuple[Measure, Measure | None]:
        """(numerator, denominator) of a metric: a simple metric's measure and None; a ratio's
        numerator and denominator metrics' measures."""
        if metric not in self.metrics:
            raise SemanticError(f"{METRICS_FILE}: no metric {metric!r}")
        entry = self.metrics[metric]
        kind = entry.get("type")
        params = entry.get("type_params") or {}
        if kind == "simple":
            return self._measure(metric, params.get("measure")), None
        if kind == "ratio":
            num, den = (self._simple(metric, params.get(k)) for k in ("numerator", "denominator"))
            return num, den
        raise SemanticError(
            f"{METRICS_FILE}: metric {metric!r} is {kind!r}; a monitor reads a simple or a "
            "ratio metric"
        )

    def _simple(self, ratio: str, ref) -> Measure:
        name = ref.get("name") if isinstance(ref, dict) else ref
        if isinstance(ref, dict) and set(ref) - {"name"}:
            raise SemanticError(
                f"{METRICS_FILE}: ratio {ratio!r} refines its input {name!r} "
                f"({', '.join(sorted(set(ref) - {'name'}))}); a monitor cannot read that"
            )
        if name not in self.metrics or self.metrics[name].get("type") != "simple":
            raise SemanticError(
                f"{METRICS_FILE}: ratio {ratio!r} reads {name!r}, which is not a simple metric"
            )
        return self._measure(name, (self.metrics[name].get("type_params") or {}).get("measure"))

    def _measure(self, metric: str, ref) -> Measure:
        name = ref.get("name") if isinstance(ref, dict) else ref
        if name not in self.measures:
            raise SemanticError(
                f"{SEMANTIC_MODELS}: metric {metric!r} names measure {name!r}, which no "
                "semantic model defines"
            )
        return self.measures[name]


def _model_name(ref: str, where: str) -> str:
    text = ref.replace('"', "'").replace(" ", "")
    if not (text.startswith("ref('") and text.endswith("')")):
        raise SemanticError(f"{where}: model {ref!r} is not ref('<model>')")
    return text[len("ref('") : -len("')")]


def read(models_file: Path = SEMANTIC_MODELS, metrics_file: Path = METRICS_FILE) -> Layer:
    """The measures and metrics of the two YAML files."""
    measures: dict[str, Measure] = {}
    for sm in yaml.safe_load(models_file.read_text()).get("semantic_models") or []:
        model = _model_name(sm["model"], f"{models_file}: semantic model {sm['name']!r}")
        for m in sm.get("measures") or []:
            if m["name"] in measures:
                raise SemanticError(f"{models_file}: measure {m['name']!r} is defined twice")
            # a measure without expr reads the column of its own name (dbt's default)
            expr = str(m.get("expr", m["name"])).strip()
            measures[m["name"]] = Measure(m["name"], model, m["agg"], expr)
    metrics = {m["name"]: m for m in yaml.safe_load(metrics_file.read_text()).get("metrics") or []}
    return Layer(measures, metrics)


@cache
def layer() -> Layer:
    """The repository's semantic layer, read once."""
    return read()
