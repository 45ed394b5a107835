"""What goes into each Tableau data source, read from the dbt manifest.

Per subject area (bi/areas.py): its tables; one field per column, with a caption, the dbt
description, a role and a default aggregation; ratios as calculated fields from their numerator
and denominator; the relationships between the tables. Nothing here writes XML (bi/tds.py does).

How a column becomes a field:

- keys (a table's single-column primary key, a column a dbt ``relationships`` test points from,
  ``*_id``, ``*_key``, ``*_hash``) and pipeline columns are hidden dimensions;
- text, dates, times, booleans and the columns of a table's grain are dimensions;
- a numeric column whose dbt description starts with ``<a> / <b>`` (two numeric columns of the
  same table) is a ratio: the stored column is hidden and a calculated field
  ``SUM([a]) / SUM([b])`` takes its caption, right at any level of detail;
- a rate-like name (``avg_*``, ``*_rate``, ``*_share``, ``*_yield``, ``*_per_*``...) without its
  two parts is a rate without parts: not aggregated, and it says so in its description;
- numeric attributes of dims are not aggregated; the exceptions of ``areas.MEASURES`` are
  applied; every other number is an additive measure, summed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bi import areas

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
RATIO_DESCRIPTION = re.compile(r"\s*([a-z_][a-z0-9_]*)\s*/\s*([a-z_][a-z0-9_]*)\b")
RATE_NAME = re.compile(r"(^avg_|_rate$|_share$|_yield$|_pct$|_percent$|_ratio$|_per_)")
PERCENT_NAME = re.compile(r"(_rate|_share|_yield|_pct|_percent)$")
MONEY_DESCRIPTION = re.compile(r"\bUSD\b")
KEY_NAME = re.compile(r"(_id|_key|_hash)$")
LATITUDE_LONGITUDE = {
    "latitude": "[Geographical].[Latitude]",
    "longitude": "[Geographical].[Longitude]",
}

INTEGER_TYPES = ("bigint", "integer", "int", "smallint", "tinyint", "hugeint")
REAL_TYPES = ("decimal", "numeric", "double", "float", "real", "number")

FORMATS = {
    "currency": 'c"$"#,##0.00;-"$"#,##0.00',
    "percent": "p0.00%",
    "integer": "n#,##0",
    "number": "n#,##0.00",
    "ratio": "n#,##0.0000",
}


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    description: str
    meta: dict

    @property
    def tableau_type(self) -> str:
        """Tableau's datatype for the dbt data_type."""
        kind = self.data_type.lower()
        if kind.startswith(INTEGER_TYPES):
            return "integer"
        if kind.startswith(REAL_TYPES):
            return "real"
        if kind.startswith("timestamp") or kind.startswith("datetime"):
            return "datetime"
        if kind == "date":
            return "date"
        if kind.startswith("bool"):
            return "boolean"
        return "string"

    @property
    def numeric(self) -> bool:
        return self.tableau_type in ("integer", "real")


@dataclass(frozen=True)
class Table:
    name: str
    database: str
    schema: str
    description: str
    columns: tuple[Column, ...]
    #: the columns of its primary key (a ``unique`` or ``unique_combination_of_columns`` test)
    grain: tuple[str, ...]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def is_dimension(self) -> bool:
        return self.name.startswith(areas.DIMENSION_PREFIX)


@dataclass(frozen=True)
class ForeignKey:
    """A dbt ``relationships`` test: ``table.column`` -> ``to_table.to_column``."""

    table: str
    column: str
    to_table: str
    to_column: str


@dataclass(frozen=True)
class Project:
    """The models of the dbt manifest the data sources can use, and their area assignments."""

    tables: dict[str, Table]
    foreign_keys: tuple[ForeignKey, ...]
    areas: dict[str, tuple[str, ...]]
    #: single-column keys that a ``unique`` test proves (table, column)
    unique: frozenset[tuple[str, str]]


@dataclass
class Field:
    table: str
    column: str | None  # None for a calculated field
    name: str  # the field's name in the data source (unique there), without brackets
    caption: str
    description: str
    datatype: str  # integer, real, string, date, datetime, boolean
    role: str  # dimension or measure
    type: str  # nominal, ordinal or quantitative
    aggregation: str | None  # Sum, Avg, ... or None (not aggregated)
    hidden: bool = False
    default_format: str | None = None
    formula: str | None = None
    semantic_role: str | None = None
    #: key, dimension, attribute, additive, measure, stored_ratio, ratio, rate_without_parts,
    #: calculation
    kind: str = "dimension"


@dataclass(frozen=True)
class Relationship:
    table: str
    column: str
    to_table: str
    to_column: str
    unique: bool  # the to side is a proven key (Tableau's "unique" cardinality)
    origin: str  # "relationships test", "shared key" or "calendar"


@dataclass
class DataSource:
    area: str
    caption: str
    tables: list[Table]
    fields: list[Field] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)
    #: relationships a test or a shared key offered that would close a loop
    left_out: list[tuple[Relationship, str]] = field(default_factory=list)
    #: (table, column, why) of the rates offered at their table's grain only
    rates_without_parts: list[tuple[str, str, str]] = field(default_factory=list)

    def field_of(self, table: str, column: str) -> Field:
        return next(f for f in self.fields if f.table == table and f.column == column)


def _identifier(name: str, where: str) -> str:
    if not IDENTIFIER.fullmatch(name or ""):
        raise ValueError(
            f"{where}: {name!r} is not a plain lower-case identifier; the data sources take "
            "names from the dbt manifest only when they are"
        )
    return name


def load_project(manifest_path: Path) -> Project:
    """The models, relationships tests and unique keys of ``manifest.json``."""
    try:
        manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"{manifest_path}: no dbt manifest; run `dbt parse` (or any dbt build) in dbt_project/ "
            "or pass --manifest"
        ) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{manifest_path}: not a JSON manifest ({exc})") from None
    nodes = manifest.get("nodes", {})
    models = {
        uid: node
        for uid, node in nodes.items()
        if node.get("resource_type") == "model" and node.get("config", {}).get("enabled", True)
    }
    by_uid: dict[str, str] = {}
    tables: dict[str, Table] = {}
    grains: dict[str, tuple[str, ...]] = {}
    unique: set[tuple[str, str]] = set()
    foreign_keys: list[ForeignKey] = []

    for uid, node in models.items():
        by_uid[uid] = node["name"]
    for node in nodes.values():
        if node.get("resource_type") != "test":
            continue
        meta = node.get("test_metadata") or {}
        attached = by_uid.get(node.get("attached_node") or "")
        if attached is None:
            continue
        kwargs = meta.get("kwargs") or {}
        name = meta.get("name")
        if name == "unique" and node.get("column_name"):
            unique.add((attached, node["column_name"]))
            grains.setdefault(attached, (node["column_name"],))
        elif name == "unique_combination_of_columns":
            columns = tuple(kwargs.get("combination_of_columns") or ())
            if columns:
                grains.setdefault(attached, columns)
                if len(columns) == 1:
                    unique.add((attached, columns[0]))
        elif name == "relationships" and node.get("column_name"):
            targets = [
                by_uid[d]
                for d in node.get("depends_on", {}).get("nodes", [])
                if d in by_uid and by_uid[d] != attached
            ]
            to_column = kwargs.get("field")
            if len(targets) == 1 and to_column:
                foreign_keys.append(
                    ForeignKey(attached, node["column_name"], targets[0], to_column)
                )

    for node in models.values():
        name = _identifier(node["name"], "dbt model")
        columns = tuple(
            Column(
                _identifier(column["name"], f"model {name}"),
                column.get("data_type") or "string",
                " ".join((column.get("description") or "").split()),
                column.get("meta") or (column.get("config") or {}).get("meta") or {},
            )
            for column in node.get("columns", {}).values()
        )
        tables[name] = Table(
            name=name,
            database=node.get("database") or "",
            schema=_identifier(node.get("schema") or "", f"schema of model {name}"),
            description=" ".join((node.get("description") or "").split()),
            columns=columns,
            grain=grains.get(name, ()),
        )
    return Project(
        tables=tables,
        foreign_keys=tuple(sorted(foreign_keys, key=lambda k: (k.table, k.column))),
        areas=_areas(models),
        unique=frozenset(unique),
    )


def _areas(models: dict[str, dict]) -> dict[str, tuple[str, ...]]:
    """areas.AREAS, with what the models say about themselves (meta ``bi.area``, or a dbt group
    named after an area) taking precedence."""
    result = {area: list(tables) for area, tables in areas.AREAS.items()}
    for node in sorted(models.values(), key=lambda n: n["name"]):
        meta = node.get("config", {}).get("meta") or node.get("meta") or {}
        declared = (meta.get("bi") or {}).get("area") if isinstance(meta.get("bi"), dict) else None
        if declared is None and node.get("group") in areas.AREAS:
            declared = node["group"]
        if declared is None:
            continue
        declared = [declared] if isinstance(declared, str) else list(declared)
        unknown = [a for a in declared if a not in areas.AREAS]
        if unknown:
            raise ValueError(
                f"model {node['name']}: meta bi.area {unknown[0]!r} is no subject area; "
                f"supported: {', '.join(areas.AREAS)}"
            )
        for area, tables in result.items():
            if node["name"] in tables and area not in declared:
                tables.remove(node["name"])
            elif area in declared and node["name"] not in tables:
                tables.append(node["name"])
    return {area: tuple(tables) for area, tables in result.items()}


def humanize(name: str) -> str:
    """``on_time_rate`` -> ``On time rate``; ``fct_order_lines`` -> ``Order lines``."""
    for prefix in ("fct_", "dim_", "metrics_"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    words = name.replace("_", " ").strip()
    words = re.sub(r"\b(kg|km|mm)\b", r"(\1)", words)
    words = re.sub(r"\bid\b", "ID", words)
    return words[:1].upper() + words[1:]


def build(project: Project, area: str) -> DataSource:
    """The data source of one subject area."""
    if area not in project.areas:
        raise ValueError(f"{area!r} is no subject area; supported: {', '.join(project.areas)}")
    missing = [t for t in project.areas[area] if t not in project.tables]
    if missing:
        raise ValueError(
            f"data source {area}: model {missing[0]} is not in the dbt manifest "
            "(rebuild the manifest, or fix bi/areas.py)"
        )
    source = DataSource(
        area=area,
        caption=area.capitalize(),
        tables=[project.tables[t] for t in project.areas[area]],
    )
    _relate(project, source)
    _fields(project, source)
    return source


# --------------------------------------------------------------------------- relationships


def _relate(project: Project, source: DataSource) -> None:
    """A tree of relationships over the tables (Tableau relates every table of a data source,
    without loops): the dbt relationships tests first, then shared dim keys, then the calendar
    for whatever is still apart."""
    names = [t.name for t in source.tables]
    order = {name: i for i, name in enumerate(names)}
    calendar, calendar_day = areas.CALENDAR
    offered: list[Relationship] = []
    for key in sorted(
        project.foreign_keys,
        key=lambda k: (order.get(k.table, 99), _position(project, k.table, k.column)),
    ):
        if key.table in order and key.to_table in order and key.to_table != calendar:
            offered.append(
                Relationship(
                    key.table,
                    key.column,
                    key.to_table,
                    key.to_column,
                    (key.to_table, key.to_column) in project.unique,
                    "relationships test",
                )
            )
    tested = {(k.table, k.column) for k in project.foreign_keys}
    for table in source.tables:
        for column in table.columns:
            if (table.name, column.name) in tested:
                continue
            for dim in source.tables:
                if dim is table or not dim.is_dimension or dim.grain != (column.name,):
                    continue
                if dim.column(column.name).tableau_type != column.tableau_type:
                    continue
                offered.append(
                    Relationship(
                        table.name,
                        column.name,
                        dim.name,
                        column.name,
                        (dim.name, column.name) in project.unique,
                        "shared key",
                    )
                )

    parent = {name: name for name in names}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def add(relationship: Relationship) -> None:
        a, b = root(relationship.table), root(relationship.to_table)
        if a == b:
            source.left_out.append(
                (relationship, "would close a loop: the tables are already related")
            )
            return
        parent[a] = b
        source.relationships.append(relationship)

    for relationship in offered:
        add(relationship)

    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(root(name), []).append(name)
    if len(groups) == 1:
        return
    if calendar not in project.tables:
        raise ValueError(
            f"data source {source.area}: tables {_apart(groups)} share no key, and there is no "
            f"{calendar} to relate them by day"
        )
    if calendar not in parent:
        source.tables.append(project.tables[calendar])
        parent[calendar] = calendar
    for members in groups.values():
        if root(members[0]) == root(calendar):
            continue
        link = None
        for name in members:
            day = _calendar_day(project, project.tables[name])
            if day:
                link = Relationship(
                    name,
                    day,
                    calendar,
                    calendar_day,
                    (calendar, calendar_day) in project.unique,
                    "calendar",
                )
                break
        if link is None:
            raise ValueError(
                f"data source {source.area}: {', '.join(members)} relate to no other table (no "
                f"shared key, no day); add a day for it in bi/areas.py CALENDAR_DAY"
            )
        add(link)


def _apart(groups: dict[str, list[str]]) -> str:
    return " | ".join(", ".join(members) for members in groups.values())


def _position(project: Project, table: str, column: str) -> int:
    columns = [c.name for c in project.tables[table].columns] if table in project.tables else []
    return columns.index(column) if column in columns else len(columns)


def _calendar_day(project: Project, table: Table) -> str | None:
    if table.name in areas.CALENDAR_DAY:
        return areas.CALENDAR_DAY[table.name]
    calendar = areas.CALENDAR[0]
    for key in project.foreign_keys:
        if key.table == table.name and key.to_table == calendar:
            return key.column
    for name in table.grain:
        column = table.column(name)
        if column is not None and column.tableau_type == "date":
            return name
    return None


# --------------------------------------------------------------------------- fields


def _fields(project: Project, source: DataSource) -> None:
    counts: dict[str, int] = {}
    for table in source.tables:
        for column in table.columns:
            counts[column.name] = counts.get(column.name, 0) + 1
    foreign = {(r.table, r.column) for r in project.foreign_keys} | {
        (r.table, r.column) for r in source.relationships
    }

    def local(table: Table, column: str) -> str:
        return column if counts.get(column, 0) <= 1 else f"{column} ({table.name})"

    for table in source.tables:
        stored = {c.name: _field(table, c, local(table, c.name), foreign) for c in table.columns}
        source.fields.extend(stored.values())
        for column in table.columns:
            ratio = _ratio_parts(table, column)
            if stored[column.name].kind != "stored_ratio" or ratio is None:
                continue
            numerator, denominator = ratio
            caption = stored[column.name].caption
            percent = bool(PERCENT_NAME.search(column.name))
            formula = (
                f"SUM({_ref(local(table, numerator))}) / SUM({_ref(local(table, denominator))})"
            )
            source.fields.append(
                Field(
                    table=table.name,
                    column=None,
                    name=f"Calculation_{table.name}_{column.name}",
                    caption=caption,
                    description=(
                        f"{column.description} Computed as {formula}: the sum of the numerator "
                        "over the sum of the denominator, right at any level of detail (never "
                        "an average of the stored per-row rates)."
                    ).strip(),
                    datatype="real",
                    role="measure",
                    type="quantitative",
                    aggregation=None,
                    default_format=FORMATS["percent" if percent else "ratio"],
                    formula=formula,
                    kind="ratio",
                )
            )
            stored[column.name].caption = f"{caption}, stored per row"
            stored[column.name].description = (
                f"{column.description} The value stored per row, hidden: use the calculated "
                f"field {caption!r}, which re-aggregates it exactly."
            ).strip()
        for (owner, name), (
            caption,
            template,
            fmt,
            description,
        ) in areas.EXTRA_CALCULATIONS.items():
            if owner != table.name:
                continue
            refs = {c.name: _ref(local(table, c.name)) for c in table.columns}
            try:
                formula = template.format(**refs)
            except KeyError as exc:
                raise ValueError(
                    f"bi/areas.py EXTRA_CALCULATIONS {owner}.{name}: {owner} has no column {exc}"
                ) from None
            source.fields.append(
                Field(
                    table=table.name,
                    column=None,
                    name=f"Calculation_{table.name}_{name}",
                    caption=caption,
                    description=f"{description} Computed as {formula}.",
                    datatype="real",
                    role="measure",
                    type="quantitative",
                    aggregation=None,
                    default_format=FORMATS[fmt],
                    formula=formula,
                    kind="calculation",
                )
            )
    for f in source.fields:
        if f.kind == "rate_without_parts":
            source.rates_without_parts.append((f.table, f.column or f.name, f.description))
    _unique_captions(source)


def _ref(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def _ratio_parts(table: Table, column: Column) -> tuple[str, str] | None:
    match = RATIO_DESCRIPTION.match(column.description)
    if not match or not column.numeric:
        return None
    numerator, denominator = match.groups()
    parts = [table.column(numerator), table.column(denominator)]
    if any(p is None or not p.numeric or p is column for p in parts):
        return None
    return numerator, denominator


def _field(table: Table, column: Column, name: str, foreign: set[tuple[str, str]]) -> Field:
    datatype = column.tableau_type
    meta = column.meta.get("bi") if isinstance(column.meta.get("bi"), dict) else {}
    caption = meta.get("caption") or humanize(column.name)
    base = Field(
        table=table.name,
        column=column.name,
        name=name,
        caption=caption,
        description=column.description,
        datatype=datatype,
        role="dimension",
        type="nominal" if datatype in ("string", "boolean") else "ordinal",
        aggregation=None,
    )
    is_key = (
        table.grain == (column.name,) or (table.name, column.name) in foreign
    ) and datatype in ("integer", "string")
    if is_key or KEY_NAME.search(column.name) or column.name in areas.TECHNICAL_COLUMNS:
        base.hidden = True
        base.kind = "key"
        return base
    if not column.numeric or column.name in table.grain:
        if column.numeric:
            base.type = "ordinal"
        return base

    override = areas.MEASURES.get((table.name, column.name))
    if "aggregation" in meta:
        aggregation = meta["aggregation"]
        aggregation = None if aggregation in (None, "none", "None") else str(aggregation).title()
        override = (aggregation, meta.get("why") or "")
    money = bool(MONEY_DESCRIPTION.search(column.description))
    fmt = "currency" if money else ("integer" if datatype == "integer" else "number")
    if column.name in LATITUDE_LONGITUDE:
        base.type = "quantitative"
        base.kind = "attribute"
        base.semantic_role = LATITUDE_LONGITUDE[column.name]
        return base
    if override is not None:
        aggregation, why = override
        base.description = f"{column.description} {why}".strip()
        base.default_format = FORMATS[fmt]
        if aggregation is None:
            base.type = "quantitative"
            base.kind = "attribute"
        else:
            base.role, base.type, base.aggregation, base.kind = (
                "measure",
                "quantitative",
                aggregation,
                "measure",
            )
        return base
    if table.is_dimension or (table.name, column.name) in areas.DISCRETE:
        # an attribute of a dim (a price, a capacity, a calendar number) or a score: described,
        # never summed
        if datatype == "integer":
            base.type = "ordinal"
            return base
        base.type = "quantitative"
        base.kind = "attribute"
        base.default_format = FORMATS[fmt]
        return base
    ratio = _ratio_parts(table, column)
    percent = bool(PERCENT_NAME.search(column.name))
    no_exact = areas.NO_EXACT_RATIO.get((table.name, column.name))
    if ratio is not None and no_exact is None:
        base.hidden = True
        base.type = "quantitative"
        base.kind = "stored_ratio"
        base.default_format = FORMATS["percent" if percent else "ratio"]
        return base
    if ratio is not None or RATE_NAME.search(column.name):
        why = no_exact or (
            f"{table.name} has no numerator and denominator for it, so it cannot be "
            "re-aggregated exactly"
        )
        base.description = (
            f"{column.description} Not aggregated: use it at the table's own grain only "
            f"({why}); never average it."
        ).strip()
        base.type = "quantitative"
        base.kind = "rate_without_parts"
        base.default_format = FORMATS["percent" if percent else "ratio"]
        return base
    base.role, base.type, base.aggregation, base.kind = "measure", "quantitative", "Sum", "additive"
    base.default_format = FORMATS[fmt]
    return base


def _unique_captions(source: DataSource) -> None:
    """Tableau shows fields by caption: a caption two tables share gets its table's name."""
    counts: dict[str, int] = {}
    for f in source.fields:
        counts[f.caption.lower()] = counts.get(f.caption.lower(), 0) + 1
    for f in source.fields:
        if counts[f.caption.lower()] > 1:
            f.caption = f"{f.caption} ({humanize(f.table)})"


# --------------------------------------------------------------------------- the guide's tables

AGGREGATION_TEXT = {
    "additive": "SUM",
    "measure": "{aggregation} (one value per row)",
    "ratio": "`{formula}`",
    "calculation": "`{formula}`",
    "rate_without_parts": "not aggregated: no numerator/denominator in the table",
    "attribute": "not aggregated",
}


def _summary(description: str) -> str:
    """The description's first sentence and its ``Grain:`` sentence."""
    sentences = re.split(r"(?<=\.)\s+(?=[A-Z])", description)
    chosen = sentences[:1] + [s for s in sentences[1:] if s.startswith("Grain:")][:1]
    return " ".join(chosen)


def guide_markdown(project: Project) -> str:
    """Per area: its tables, what each is for (dbt descriptions) and how each measure of its
    facts and metrics tables aggregates. docs/bi.md holds this text between its markers."""
    lines: list[str] = []
    for area in project.areas:
        source = build(project, area)
        lines += [f"### {source.caption}", ""]
        for table in source.tables:
            lines.append(
                f"- `{table.name}` ({humanize(table.name)}): {_summary(table.description)}"
            )
        lines += ["", "| table | field | aggregation | note |", "| --- | --- | --- | --- |"]
        for f in source.fields:
            if f.hidden or f.kind not in AGGREGATION_TEXT or f.table.startswith("dim_"):
                continue
            how = AGGREGATION_TEXT[f.kind].format(
                aggregation=(f.aggregation or "").upper(), formula=f.formula
            )
            note = ""
            if f.kind in ("measure", "attribute", "rate_without_parts"):
                note = f.description.removeprefix(
                    project.tables[f.table].column(f.column).description if f.column else ""
                ).strip()
            row = f"| `{f.table}` | {f.caption} | {how} | {note.replace('|', chr(92) + '|')} |"
            lines.append(row.replace(" |  |", " | |"))
        rels = [
            f"`{r.table}.{r.column}` → `{r.to_table}.{r.to_column}` ({r.origin})"
            for r in source.relationships
        ]
        lines += ["", "Relationships: " + "; ".join(rels) + ".", ""]
    return "\n".join(lines).rstrip() + "\n"
