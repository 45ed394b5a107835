"""A metrics query: the request shape, its checks against the catalog, its normalised form.

Nothing in a request becomes SQL text: metric, dimension and order names must be names the
semantic manifest defines; a filter is (dimension, operator from a fixed list, values), and a
string value must be one of the values the dimension holds in the warehouse (and be plain
letters, digits, spaces and ``._-/&``), dates are dates and numbers numbers. MetricFlow compiles
the checked query; :func:`where_clause` writes its filters in MetricFlow's template language from
those checked parts only. A request that fails a check gets 422 with what was wrong and what is
allowed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .semantic import GRAINS, SemanticLayer

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,120}$", to_lower=True)]
OrderName = Annotated[
    str, StringConstraints(pattern=r"^-?[A-Za-z][A-Za-z0-9_]{0,120}$", to_lower=True)
]
Value = str | int | float | bool | date
_PLAIN = re.compile(r"^[A-Za-z0-9 _.\-/&]{1,80}$")


class InvalidQuery(ValueError):
    """A request the API refuses (422), with the reason in words."""


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dimension: Name
    op: Literal["=", "!=", "in", "not in", ">", ">=", "<", "<=", "is null", "is not null"] = "="
    values: list[Value] = Field(default_factory=list, max_length=50)


class QueryRequest(BaseModel):
    """``POST /query``."""

    model_config = ConfigDict(extra="forbid")
    metrics: list[Name] = Field(min_length=1, max_length=8)
    group_by: list[Name] = Field(default_factory=list, max_length=6)
    grain: Literal["day", "week", "month", "quarter", "year"] | None = None
    filters: list[Filter] = Field(default_factory=list, max_length=10)
    start: date | None = None
    end: date | None = None
    order_by: list[OrderName] = Field(default_factory=list, max_length=8)
    limit: int | None = Field(default=None, ge=1)
    format: Literal["json", "csv", "arrow"] = "json"
    explain: bool = False


@dataclass(frozen=True)
class Query:
    """A checked query, normalised (the cache key is made from :meth:`normalised`)."""

    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    filters: tuple[tuple[str, str, tuple], ...] = ()
    start: date | None = None
    end: date | None = None
    order_by: tuple[str, ...] = ()
    limit: int | None = None

    def normalised(self) -> dict:
        return {
            "metrics": list(self.metrics),
            "group_by": list(self.group_by),
            "filters": [[d, op, [_iso(v) for v in vs]] for d, op, vs in self.filters],
            "start": _iso(self.start),
            "end": _iso(self.end),
            "order_by": list(self.order_by),
            "limit": self.limit,
        }

    def describe(self) -> dict:
        """The query as the API shows it (``/ask`` answers carry the one they ran)."""
        return {k: v for k, v in self.normalised().items() if v not in (None, [])}


def _iso(value):
    return value.isoformat() if isinstance(value, date) else value


def suggest(word: str, choices: Iterable[str], n: int = 1) -> list[str]:
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = suggest(word, choices)
    return f"; did you mean {close[0]!r}?" if close else ""


def check(
    request: QueryRequest,
    layer: SemanticLayer,
    max_rows: int,
    values_of: Callable[[str], set] | None = None,
) -> Query:
    """``request`` checked against the catalog (and the dimension values), as a :class:`Query`."""
    metrics: list[str] = []
    for name in request.metrics:
        if name not in layer.metrics:
            raise InvalidQuery(
                f"unknown metric {name!r}{_did_you_mean(name, layer.metrics)} "
                "(GET /metrics lists every metric)"
            )
        if name not in metrics:
            metrics.append(name)
    allowed = layer.dimensions_for(metrics)
    times = layer.time_dimensions_for(metrics)

    def group_name(name: str) -> str:
        base, _, grain = name.rpartition("__")
        if base in times and grain in GRAINS:
            return name
        if name in times:
            return f"{name}__day"
        if name in allowed:
            return name
        raise InvalidQuery(
            f"{', '.join(metrics)} cannot be grouped by {name!r}{_did_you_mean(name, allowed)}; "
            f"allowed: {', '.join(sorted(allowed))} (time dimensions take __day, __week, "
            "__month, __quarter or __year)"
        )

    group_by: list[str] = []
    for name in request.group_by:
        full = group_name(name)
        if full not in group_by:
            group_by.append(full)
    if request.grain:
        time_groups = [g for g in group_by if g.startswith("metric_time")]
        for g in time_groups:
            group_by.remove(g)
        group_by.insert(0, f"metric_time__{request.grain}")

    filters = []
    for f in request.filters:
        dimension = f.dimension
        if dimension not in allowed:
            raise InvalidQuery(
                f"cannot filter {', '.join(metrics)} on {dimension!r}"
                f"{_did_you_mean(dimension, allowed)}; allowed: {', '.join(sorted(allowed))}"
            )
        values = _check_values(f, dimension in times, values_of)
        filters.append((dimension, f.op, values))
    filters.sort(key=lambda x: (x[0], x[1], [str(v) for v in x[2]]))

    if request.start and request.end and request.start > request.end:
        raise InvalidQuery(f"start {request.start} is after end {request.end}")

    selectable = set(metrics) | set(group_by)
    order_by = []
    if request.grain and not request.order_by:  # a time series reads in time order
        request = request.model_copy(update={"order_by": [f"metric_time__{request.grain}"]})
    for item in request.order_by:
        name = item.lstrip("-")
        if name not in selectable and name in times:
            name = f"{name}__day"
        if name not in selectable:
            raise InvalidQuery(
                f"cannot order by {name!r}: order by one of {', '.join(sorted(selectable))} "
                "(a leading - sorts descending)"
            )
        order_by.append(("-" if item.startswith("-") else "") + name)

    if request.limit is not None and request.limit > max_rows:
        raise InvalidQuery(f"limit {request.limit} is above the {max_rows} rows allowed")
    return Query(
        metrics=tuple(metrics),
        group_by=tuple(group_by),
        filters=tuple(filters),
        start=request.start,
        end=request.end,
        order_by=tuple(order_by),
        limit=request.limit,
    )


def _check_values(f: Filter, is_time: bool, values_of) -> tuple:
    if f.op in ("is null", "is not null"):
        if f.values:
            raise InvalidQuery(f"filter {f.dimension} {f.op} takes no values")
        return ()
    if not f.values:
        raise InvalidQuery(f"filter {f.dimension} {f.op} needs at least one value")
    if f.op not in ("in", "not in") and len(f.values) != 1:
        raise InvalidQuery(f"filter {f.dimension} {f.op} takes one value; use 'in' for several")
    out = []
    for value in f.values:
        if is_time:
            if isinstance(value, datetime):
                value = value.date()
            if not isinstance(value, date):
                try:
                    value = date.fromisoformat(str(value))
                except ValueError:
                    raise InvalidQuery(
                        f"filter {f.dimension}: {value!r} is not a date (YYYY-MM-DD)"
                    ) from None
        elif isinstance(value, str):
            if not _PLAIN.fullmatch(value):
                raise InvalidQuery(
                    f"filter {f.dimension}: {value!r} is not a value (1-80 letters, digits, "
                    "spaces and . _ - / &)"
                )
            if values_of is not None:
                known = values_of(f.dimension)
                if known and value not in known:
                    text = {str(v) for v in known}
                    close = suggest(value, text)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise InvalidQuery(
                        f"{f.dimension} has no value {value!r}{hint}; "
                        f"it holds: {', '.join(sorted(text)[:30])}"
                    )
        elif isinstance(value, date):
            raise InvalidQuery(f"filter {f.dimension}: a date for a dimension that is not a time")
        out.append(value)
    return tuple(sorted(out, key=str))


def _literal(value) -> str:
    """A checked value as a SQL literal (strings matched :data:`_PLAIN`: no quote inside)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if not _PLAIN.fullmatch(str(value)):  # checked already; never render anything else
        raise InvalidQuery(f"refusing to render value {value!r}")
    return f"'{value}'"


def where_clause(dimension: str, op: str, values: tuple, is_time: bool) -> str:
    ref = (
        f"{{{{ TimeDimension('{dimension}', 'day') }}}}"
        if is_time
        else f"{{{{ Dimension('{dimension}') }}}}"
    )
    if op in ("is null", "is not null"):
        return f"{ref} {op}"
    if op in ("in", "not in"):
        return f"{ref} {op} ({', '.join(_literal(v) for v in values)})"
    return f"{ref} {op} {_literal(values[0])}"


def metricflow_request(query: Query, layer: SemanticLayer, row_cap: int):
    """The ``MetricFlowQueryRequest`` of a checked query (``row_cap``: the limit without one)."""
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    times = layer.time_dimensions_for(list(query.metrics))
    return MetricFlowQueryRequest.create(
        metric_names=list(query.metrics),
        group_by_names=list(query.group_by) or None,
        where_constraints=[where_clause(d, op, vs, d in times) for d, op, vs in query.filters]
        or None,
        time_constraint_start=datetime.combine(query.start, time()) if query.start else None,
        time_constraint_end=datetime.combine(query.end, time()) if query.end else None,
        order_by_names=list(query.order_by) or None,
        limit=query.limit or row_cap,
    )
