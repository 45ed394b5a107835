"""Expectation suites, generated from the table contracts (``ingestion/contracts.py``: keys,
required columns, types, each column's allowed values and range) and the business rules of
``config.yml`` (event order, late arrivals, the marts' checks): one :class:`TableCheck` per
bronze table and key mart.

A check is the SQL that reads the rows under test (one day's files, or the whole table) and a list
of :class:`Check` specs; :mod:`quality.gx_run` turns them into Great Expectations suites. Keeping
the rules here (and not in hundreds of JSON lines) keeps them reviewable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ingestion.contracts import CONTRACTS, Range, TableContract

from .config_model import BronzeRules, MartRules
from .monitors.metrics import day_of_file
from .settings import config

META_COLUMNS = ("_batch_id", "_source_file", "_source_line", "_loaded_at")


@dataclass(frozen=True)
class Check:
    name: str  # short, stable: what fails in an alert ("key_unique", "range", ...)
    expectation: str  # the GX expectation class name, snake case
    kwargs: dict[str, Any]
    column: str | None = None
    severity: str = "error"


@dataclass(frozen=True)
class TableCheck:
    suite: str  # e.g. "bronze.orders"
    sql: str
    checks: list[Check] = field(default_factory=list)


def _sql_day(d: date) -> str:
    """A day as SQL text: only ever a real date object's ISO form (digits and dashes)."""
    if not isinstance(d, date):
        raise TypeError(f"a day must be a date, not {type(d).__name__}")
    return d.isoformat()


def _file_filter(d: date | None, alias: str = "") -> str:
    """Rows of one day: the bronze row came from that day's landing file."""
    return "" if d is None else f" where {alias}_source_file like '%{_sql_day(d)}.csv'"


def _severity(name: str) -> str:
    warn = set(config().gx.warning_checks)
    return "warning" if name in warn else "error"


def _c(name: str, expectation: str, column: str | None = None, **kwargs) -> Check:
    if column is not None and not {"column", "column_list", "column_A"} & set(kwargs):
        kwargs["column"] = column
    return Check(name, expectation, kwargs, column, _severity(name))


def _between(
    col: str, lo: float | None, hi: float | None, strict_min: bool = False, strict_max: bool = False
) -> Check:
    strict = {}
    if lo is not None and strict_min:
        strict["strict_min"] = True
    if hi is not None and strict_max:
        strict["strict_max"] = True
    return _c(
        "range", "expect_column_values_to_be_between", col, min_value=lo, max_value=hi, **strict
    )


def _range(col: str, bounds: Range) -> Check:
    return _between(col, bounds.min, bounds.max, not bounds.min_inclusive, not bounds.max_inclusive)


def _allowed(col: str, values) -> Check:
    return _c("allowed_values", "expect_column_values_to_be_in_set", col, value_set=list(values))


def _contract_rules(contract: TableContract) -> list[Check]:
    """The value rules of a bronze table's contract: each column's range, then its allowed
    values (``ingestion/contracts.py``; dbt tests the same rules on the sources)."""
    return [_range(col, bounds) for col, bounds in contract.ranges.items()] + [
        _allowed(col, values) for col, values in contract.allowed_values.items()
    ]


def _rules(rules: BronzeRules | MartRules) -> list[Check]:
    out: list[Check] = []
    if isinstance(rules, MartRules):
        out += [_between(col, lo, hi) for col, (lo, hi) in rules.ranges.items()]
        out += [_allowed(col, values) for col, values in rules.sets.items()]
    for a, b in rules.order:
        out.append(
            _c(
                "event_order",
                "expect_column_pair_values_a_to_be_greater_than_b",
                a,
                column_A=a,
                column_B=b,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
        )
    return out


def bronze_checks(day: date | None) -> list[TableCheck]:
    """A suite per bronze table, plus the load audit and the quarantine (``_rejects``)."""
    rules = config().bronze
    out: list[TableCheck] = []
    for name, contract in CONTRACTS.items():
        table_rules = rules.get(name) or BronzeRules()
        cols = contract.column_names
        select = "*"
        checks = [
            _c(
                "columns_match_contract",
                "expect_table_columns_to_match_set",
                column_set=[
                    *cols,
                    *META_COLUMNS,
                    *(["_placed_lag_days"] if table_rules.late_arrival else []),
                ],
                exact_match=True,
            ),
            _c(
                "key_unique",
                "expect_compound_columns_to_be_unique",
                ",".join(contract.primary_key),
                column_list=["_source_file", *contract.primary_key],
            ),
        ]
        for col in contract.required_columns:
            checks.append(_c("not_null", "expect_column_values_to_not_be_null", col))
        checks += _contract_rules(contract)
        checks += _rules(table_rules)
        late = table_rules.late_arrival
        source = f"bronze.{name}"
        if late:
            # days between the row's event and the day of the file it came in
            file_day = day_of_file("t._source_file")
            if late.via:
                # the event time is on the parent row (an order line's order)
                key = late.key
                # for one day's file, only the parents of its rows are aggregated (the same
                # earliest event per key), not the whole history of the parent table
                parents = (
                    ""
                    if day is None
                    else f" where {key} in (select {key} from bronze.{name}{_file_filter(day)})"
                )
                source = (
                    f"bronze.{name} t left join (select {key}, min(cast({late.timestamp} as "
                    f"date)) as _event_day from bronze.{late.via}{parents} group by {key}) p "
                    f"using ({key})"
                )
                select = f"t.*, cast({file_day} - p._event_day as integer) as _placed_lag_days"
            else:
                select = (
                    f"t.*, case when t.{late.status_column} = "
                    f"'{late.status}' then cast({file_day} - cast(t.{late.timestamp} as "
                    "date) as integer) end as _placed_lag_days"
                )
                source = f"bronze.{name} t"
            checks.append(
                _c(
                    "late_arrival",
                    "expect_column_values_to_be_between",
                    "_placed_lag_days",
                    min_value=0,
                    max_value=late.max_days,
                )
            )
        out.append(
            TableCheck(
                f"bronze.{name}",
                f"select {select} from {source}{_file_filter(day, 't.' if late else '')}",
                checks,
            )
        )
    audit_filter = "" if day is None else f" where file_path like '%{_sql_day(day)}.csv'"
    out.append(
        TableCheck(
            "bronze._load_audit",
            "select *, cast(rows_read - rows_loaded - rows_rejected as integer) as _unbalanced "
            f"from bronze._load_audit{audit_filter}",
            [
                _c(
                    "load_reconciles",
                    "expect_column_values_to_be_between",
                    "_unbalanced",
                    min_value=0,
                    max_value=0,
                ),
                # a failed load is an error; superseded = replaced by a re-sent version
                _c(
                    "load_status",
                    "expect_column_values_to_be_in_set",
                    "status",
                    value_set=["loaded", "skipped", "superseded", "ignored", "waiting"],
                ),
                _c(
                    "stray_or_waiting_files",
                    "expect_column_values_to_be_in_set",
                    "status",
                    value_set=["loaded", "skipped", "superseded"],
                ),
                _c("no_schema_drift", "expect_column_values_to_be_null", "schema_drift"),
            ],
        )
    )
    rejects_filter = "" if day is None else f" where file_path like '%{_sql_day(day)}.csv'"
    out.append(
        TableCheck(
            "bronze._rejects",
            f"select * from bronze._rejects{rejects_filter}",
            [_c("rejects_quarantined", "expect_table_row_count_to_equal", value=0)],
        )
    )
    return out


def mart_checks(day: date | None) -> list[TableCheck]:
    out: list[TableCheck] = []
    dates = config().freshness.marts
    for name, rules in config().marts.items():
        where = ""
        if day is not None and name in dates:
            where = f" where {dates[name].column} = date '{_sql_day(day)}'"
        checks = [
            _c(
                "has_rows",
                "expect_table_row_count_to_be_between",
                min_value=1 if day is None else 0,
            ),
            _c("key_unique", "expect_column_values_to_be_unique", rules.key),
            _c("not_null", "expect_column_values_to_not_be_null", rules.key),
        ]
        checks += [_c("not_null", "expect_column_values_to_not_be_null", c) for c in rules.not_null]
        checks += _rules(rules)
        out.append(TableCheck(f"marts.{name}", f"select * from marts.{name}{where}", checks))
    return out


def checks_for(layer: str, day: date | None) -> list[TableCheck]:
    if layer == "bronze":
        return bronze_checks(day)
    if layer == "marts":
        return mart_checks(day)
    raise ValueError(f"unknown layer {layer!r}: use bronze or marts")
