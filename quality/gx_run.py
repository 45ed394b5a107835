"""Run the suites of one layer with Great Expectations 1.x and build the Data Docs.

One file-mode context per run (``<QUALITY_GX_ROOT>/gx``, analytics off), one checkpoint per layer
holding a validation definition per table. On DuckDB every table is read from the warehouse into a
pandas dataframe batch (GX's SQL route on DuckDB returns empty results, great_expectations#11579),
so each validation definition runs with its own dataframe and the Data Docs are rebuilt once at the
end; on PostgreSQL the tables are SQL query assets and the layer's checkpoint runs them all. Either
way the Data Docs are then made to work offline (:func:`quality.data_docs.localize`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any

from .data_docs import localize
from .settings import data_docs_dir, gx_root
from .suites import TableCheck

log = logging.getLogger(__name__)
SITE = "local_site"


@dataclass(frozen=True)
class Outcome:
    suite: str
    expectation: str
    check: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int
    observed: str


def _context():
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    root = gx_root()
    root.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ctx.variables.analytics_enabled = False
    docs = data_docs_dir()
    docs.mkdir(parents=True, exist_ok=True)
    site = {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
    }
    sites = ctx.get_config().data_docs_sites or {}
    current = sites.get(SITE, {}).get("store_backend", {}).get("base_directory")
    if current != str(docs):
        if SITE in sites:
            ctx.delete_data_docs_site(SITE)
        ctx.add_data_docs_site(site_name=SITE, site_config=site)
    return ctx


def _expectation(check):
    import great_expectations.expectations as gxe

    cls_name = "".join(part.capitalize() for part in check.expectation.split("_"))
    cls = getattr(gxe, cls_name)
    return cls(**check.kwargs, meta={"check": check.name, "severity": check.severity})


def _suite(ctx, table: TableCheck, layer: str):
    import great_expectations as gx

    suite = gx.ExpectationSuite(
        name=table.suite, expectations=[_expectation(c) for c in table.checks]
    )
    with contextlib.suppress(Exception):  # not there yet
        ctx.suites.delete(table.suite)
    return ctx.suites.add(suite)


def _pg_connection_string(env) -> str:
    user = env.get("PGUSER", "postgres")
    password = env.get("PGPASSWORD", "")
    auth = f"{user}:{password}" if password else user
    host, port = env.get("PGHOST", "127.0.0.1"), env.get("PGPORT", "5432")
    return f"postgresql+psycopg://{auth}@{host}:{port}/{env.get('PGDATABASE', 'postgres')}"


def _observed(result: dict[str, Any]) -> str:
    if "observed_value" in result:
        return str(result["observed_value"])[:500]
    partial = result.get("partial_unexpected_list")
    if partial:
        return ("unexpected: " + ", ".join(map(str, partial[:10])))[:500]
    return ""


def run_layer(layer: str, tables: list[TableCheck], wh) -> list[Outcome]:
    """Validate ``tables`` on the warehouse ``wh``; return one outcome per expectation."""
    import great_expectations as gx

    ctx = _context()
    vds = []
    frames: dict[str, Any] = {}
    if wh.target == "postgres":
        source = ctx.data_sources.add_or_update_postgres(
            f"{layer}_sql", connection_string=_pg_connection_string(wh.settings.env)
        )
    else:
        source = ctx.data_sources.add_or_update_pandas(f"{layer}_frames")
    for table in tables:
        schema, name = table.suite.split(".")
        if not wh.table_exists(schema, name):
            log.warning("%s does not exist yet: its suite is skipped", table.suite)
            continue
        suite = _suite(ctx, table, layer)
        with contextlib.suppress(Exception):  # not there yet
            source.delete_asset(table.suite)
        if wh.target == "postgres":
            asset = source.add_query_asset(table.suite, query=table.sql)
            batch = asset.add_batch_definition_whole_table("whole")
        else:
            asset = source.add_dataframe_asset(table.suite)
            batch = asset.add_batch_definition_whole_dataframe("whole")
            frames[table.suite] = wh.frame(table.sql)
        vd = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{layer}:{table.suite}", data=batch, suite=suite)
        )
        vds.append((table, vd))
    results = []
    if wh.target == "postgres":
        checkpoint = ctx.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{layer}_gate",
                validation_definitions=[vd for _, vd in vds],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[SITE])],
                result_format="SUMMARY",
            )
        )
        run = checkpoint.run()
        by_suite = {r.suite_name: r for r in run.run_results.values()}
        results = [(t, by_suite[t.suite]) for t, _ in vds]
    else:
        ctx.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{layer}_gate",
                validation_definitions=[vd for _, vd in vds],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[SITE])],
                result_format="SUMMARY",
            )
        )
        for table, vd in vds:
            res = vd.run(
                batch_parameters={"dataframe": frames[table.suite]}, result_format="SUMMARY"
            )
            results.append((table, res))
        ctx.build_data_docs(site_names=[SITE])
    localize(data_docs_dir())
    out: list[Outcome] = []
    for table, res in results:
        for r in res.results:
            meta = r.expectation_config.meta or {}
            kwargs = r.expectation_config.kwargs
            column = kwargs.get("column") or (
                ",".join(kwargs["column_list"]) if "column_list" in kwargs else None
            )
            if column and "column_A" in kwargs:
                column = f"{kwargs['column_A']}>={kwargs['column_B']}"
            result = r.result or {}
            unexpected = result.get("unexpected_count")
            if unexpected is None and not r.success and "observed_value" in result:
                try:
                    unexpected = int(result["observed_value"])
                except (TypeError, ValueError):
                    unexpected = 1
            out.append(
                Outcome(
                    suite=table.suite,
                    expectation=r.expectation_config.type,
                    check=meta.get("check", r.expectation_config.type),
                    column=column,
                    severity=meta.get("severity", "error"),
                    success=bool(r.success),
                    unexpected_count=int(unexpected or 0),
                    observed=_observed(result) if not r.success else "",
                )
            )
    return out
