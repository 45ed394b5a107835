"""dbt ``sources`` for the bronze tables, rendered from the table contracts.

``python -m ingestion dbt-sources --write`` regenerates ``dbt_project/models/staging/_sources.yml``;
tests/test_ingestion_cli.py fails when the committed file and the contracts disagree. A daily
table's freshness is when its newest file was loaded, from the load audit (``LOADED_AT_QUERY``),
so a delivered file with no rows counts as fresh; reference tables have none. A column's value
rules in its contract become its tests: ``allowed`` an ``accepted_values`` test, ``range`` a
``value_in_range`` test (``dbt_project/tests/generic/value_in_range.sql``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .backends.base import META_COLUMNS
from .config import ROOT
from .contracts import CONTRACTS, Column

SOURCES_FILE = ROOT / "dbt_project" / "models" / "staging" / "_sources.yml"
#: source freshness from the load audit's newest loaded file of each table, not the newest row
LOADED_AT_QUERY = "{{ newest_file_loaded(this, source_node.name) }}"

_META_DOCS = {
    "_batch_id": "Load batch that inserted the row (one per `python -m ingestion load`).",
    "_source_file": "Landing file the row came from, `<table>/<YYYY-MM-DD>.csv`.",
    "_source_line": "Line of that file (the header is line 1).",
    "_loaded_at": "When the row was loaded (UTC).",
}


def render_sources() -> str:
    tables = []
    for name, contract in CONTRACTS.items():
        columns = [
            {
                "name": c.name,
                "data_type": c.type,
                "description": c.description or _describe(name, c.name, contract),
                **({"data_tests": tests} if (tests := value_tests(c)) else {}),
            }
            for c in contract.columns
        ] + [{"name": c, "data_type": t, "description": _META_DOCS[c]} for c, t in META_COLUMNS]
        table = {
            "name": name,
            "description": f"{contract.description} Key: {', '.join(contract.primary_key)}"
            + (
                "; versioned by updated_at (a key repeats across days)."
                if contract.versioned
                else "."
            ),
            "columns": columns,
        }
        if contract.reference:
            # master data written once: no daily freshness expectation
            table["config"] = {"freshness": None}
        tables.append(table)
    doc = {
        "version": 2,
        "sources": [
            {
                "name": "bronze",
                "description": "Landing-zone CSVs loaded as-is by `python -m ingestion` (typed, audited; "
                "rows that do not parse are in bronze._rejects).",
                "schema": "{{ env_var('BRONZE_SCHEMA', 'bronze') }}",
                "config": {
                    # when the table's newest file was loaded (the load audit), so a delivered
                    # file with no rows is fresh: dbt_project/macros/newest_file_loaded.sql
                    "loaded_at_query": LOADED_AT_QUERY,
                    "freshness": {
                        "warn_after": {"count": 26, "period": "hour"},
                        "error_after": {"count": 50, "period": "hour"},
                    },
                },
                "tables": tables,
            }
        ],
    }
    header = (
        "# Generated from ingestion/contracts.py by `python -m ingestion dbt-sources --write`."
        "\n# Do not edit by hand: tests/test_ingestion_cli.py fails when the two disagree.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, width=100)


def value_tests(column: Column) -> list[dict]:
    """The dbt tests of a column's value rules: ``accepted_values`` for ``allowed``,
    ``value_in_range`` for ``range`` (a null passes both: ``required`` is checked elsewhere)."""
    tests: list[dict] = []
    if column.allowed:
        arguments: dict = {"values": list(column.allowed)}
        if not all(isinstance(v, str) for v in column.allowed):
            arguments["quote"] = False
        tests.append({"accepted_values": {"arguments": arguments}})
    bounds = column.range
    if bounds is not None:
        arguments = {}
        if bounds.min is not None:
            arguments["min_value"] = bounds.min
            if not bounds.min_inclusive:
                arguments["min_inclusive"] = False
        if bounds.max is not None:
            arguments["max_value"] = bounds.max
            if not bounds.max_inclusive:
                arguments["max_inclusive"] = False
        tests.append({"value_in_range": {"arguments": arguments}})
    return tests


def _describe(table: str, column: str, contract) -> str:
    if column in contract.primary_key:
        return "Primary key." if len(contract.primary_key) == 1 else "Part of the primary key."
    if column.endswith("_id"):
        return f"References {column[:-3]}."
    if column in contract.pii:
        return "Personal data: hashed in staging, never exposed downstream."
    return column.replace("_", " ").capitalize() + "."


def write_sources(path: Path = SOURCES_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_sources(), encoding="utf-8")
    return path
