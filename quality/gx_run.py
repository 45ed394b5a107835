"""Run the suites of one layer with Great Expectations 1.x and build the Data Docs.

One file-mode context per run (:mod:`quality.gx_context`) and a validation definition
per table, run one by one, then the Data Docs are built once and made to work offline
(:func:`quality.data_docs.localize`). On DuckDB every table is read from the warehouse into a
pandas dataframe batch (GX's SQL route on DuckDB returns empty results, great_expectations#11579);
on PostgreSQL the tables are SQL query assets. There is no checkpoint: run by hand, it would store
results without the masking below.

Every result is masked before GX stores it (:mod:`quality.masking`): the Data Docs, the outcomes
returned here and so ``quality.check_results`` and the alerts never hold a PII value. Each table
is validated with its own result format: GX's summary (up to 20 unexpected values) plus, where the
table has one, the load time of each sampled bad row (``_loaded_at``), which becomes the "since"
of an alert: when the bad batch arrived, not when the check ran.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from platform_core.settings import current

from . import samples
from .data_docs import localize
from .gx_context import SITE, context
from .settings import data_docs_dir
from .suites import TableCheck

log = logging.getLogger(__name__)
# the column that says when a row arrived, by preference (bronze tables, facts, the load audit)
LOAD_COLUMNS = ("_loaded_at", "loaded_at", "finished_at", "rejected_at")


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict; ``observed`` and ``samples`` are masked text."""

    suite: str
    expectation: str
    check: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int
    observed: str
    samples: tuple[str, ...] = ()
    loaded_at: datetime | None = None  # the earliest load time among the sampled bad rows


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
    settings = current(env)
    user, password = settings.get("PGUSER"), settings.get("PGPASSWORD")
    auth = f"{user}:{password}" if password else user
    host, port = settings.get("PGHOST"), settings.get("PGPORT")
    return f"postgresql+psycopg://{auth}@{host}:{port}/{settings.get('PGDATABASE')}"


def _observed(result: dict[str, Any], shown: list[str]) -> str:
    """What a failed expectation saw, as text for ``quality.check_results`` (masked already)."""
    if "observed_value" in result:
        return samples.clip(samples.text(result["observed_value"]), 500)
    return samples.clip("unexpected: " + "; ".join(shown), 500) if shown else ""


def _samples(result: dict[str, Any]) -> list[str]:
    return samples.distinct(result.get("partial_unexpected_list") or [])


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime) or value != value:  # NaT
        return None
    moment = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _loaded_at(result: dict[str, Any], column: str | None) -> datetime | None:
    """The earliest load time among the sampled bad rows (None: no row-level sample)."""
    if column is None:
        return None
    rows = result.get("partial_unexpected_index_list") or []
    moments = [_moment(r.get(column)) for r in rows if isinstance(r, dict)]
    return min((m for m in moments if m is not None), default=None)


def _load_column(columns) -> str | None:
    return next((c for c in LOAD_COLUMNS if c in set(columns)), None)


def _result_format(load_column: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"result_format": "SUMMARY"}
    if load_column:
        out["unexpected_index_column_names"] = [load_column]
    return out


def run_layer(layer: str, tables: list[TableCheck], wh) -> list[Outcome]:
    """Validate ``tables`` on the warehouse ``wh``; return one outcome per expectation."""
    import great_expectations as gx

    ctx = context()
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
            columns = wh.frame(f"select * from ({table.sql}) as q limit 0").columns
        else:
            asset = source.add_dataframe_asset(table.suite)
            batch = asset.add_batch_definition_whole_dataframe("whole")
            frames[table.suite] = wh.frame(table.sql)
            columns = frames[table.suite].columns
        vd = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{layer}:{table.suite}", data=batch, suite=suite)
        )
        vds.append((table, vd, _load_column(columns)))
    results = []
    for table, vd, load_column in vds:
        params = {"dataframe": frames[table.suite]} if table.suite in frames else None
        res = vd.run(batch_parameters=params, result_format=_result_format(load_column))
        results.append((table, res, load_column))
    ctx.build_data_docs(site_names=[SITE])
    localize(data_docs_dir())
    out: list[Outcome] = []
    for table, res, load_column in results:
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
            shown = _samples(result) if not r.success else []
            out.append(
                Outcome(
                    suite=table.suite,
                    expectation=r.expectation_config.type,
                    check=meta.get("check", r.expectation_config.type),
                    column=column,
                    severity=meta.get("severity", "error"),
                    success=bool(r.success),
                    unexpected_count=int(unexpected or 0),
                    observed=_observed(result, shown) if not r.success else "",
                    samples=tuple(shown),
                    loaded_at=_loaded_at(result, load_column) if not r.success else None,
                )
            )
    return out
