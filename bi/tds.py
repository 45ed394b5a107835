"""Tableau data source files: a ``.tds`` (XML) per data source and a packaged ``.tdsx`` (zip of the
``.tds`` and, when they exist, its ``.hyper`` extracts under ``Data/``).

The XML is built with ``xml.etree``: every name, caption and description is an attribute value
or a text node, escaped by the library. The connection is one class per engine in CONNECTIONS
(the extracts by default; PostgreSQL, Snowflake, Databricks live); none writes a password.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from xml.etree import ElementTree as ET

from bi.semantics import DataSource, Field, Table, humanize
from platform_core.settings import current

TDS_VERSION = "18.1"
#: ADO type codes Tableau writes in metadata records
REMOTE_TYPES = {
    "integer": "20",
    "real": "5",
    "string": "129",
    "date": "133",
    "datetime": "135",
    "boolean": "11",
}
DEFAULT_AGGREGATION = {
    "integer": "Sum",
    "real": "Sum",
    "string": "Count",
    "date": "Year",
    "datetime": "Year",
    "boolean": "Count",
}
READER_ROLE_DEFAULT = "analytics_reader"


def _bracket(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def reader_role(env: Mapping[str, str]) -> str:
    return env.get("WAREHOUSE_READER_ROLE") or READER_ROLE_DEFAULT


# --------------------------------------------------------------------------- connections


@dataclass(frozen=True)
class NamedConnection:
    name: str
    caption: str
    attributes: dict[str, str]


class Connection:
    """Where a data source's tables are read from."""

    engine: ClassVar[str]

    def named_connection(self, table: Table) -> NamedConnection:
        raise NotImplementedError

    def table_reference(self, table: Table) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class HyperTable:
    """One extract file and the table inside it."""

    path: str  # as written in the .tds (absolute, or Data/<file> inside a .tdsx)
    schema: str
    table: str


class HyperConnection(Connection):
    """The extracts: one ``.hyper`` file per table."""

    engine = "hyper"

    def __init__(self, tables: Mapping[str, HyperTable]):
        self.tables = dict(tables)

    def named_connection(self, table: Table) -> NamedConnection:
        extract = self.tables[table.name]
        return NamedConnection(
            f"hyper.{table.name}",
            table.name,
            {
                "class": "hyper",
                "authentication": "auth-none",
                "author-locale": "en_US",
                "dbname": extract.path,
                "default-settings": "hyper",
                "schema": extract.schema,
                "sslmode": "",
                "tablename": extract.table,
                "username": "tableau_internal_user",
            },
        )

    def table_reference(self, table: Table) -> str:
        extract = self.tables[table.name]
        return f"{_bracket(extract.schema)}.{_bracket(extract.table)}"


class LiveConnection(Connection):
    """A warehouse read live as the reader role: one connection shared by every table."""

    required: ClassVar[tuple[str, ...]] = ()

    def __init__(self, env: Mapping[str, str]):
        missing = [name for name in self.required if not env.get(name)]
        if missing:
            raise ValueError(
                f"--live {self.engine} needs {', '.join(self.required)} in the environment "
                f"(missing: {', '.join(missing)})"
            )
        self.env = env

    def attributes(self) -> dict[str, str]:
        raise NotImplementedError

    def named_connection(self, table: Table) -> NamedConnection:
        attributes = self.attributes()
        return NamedConnection(
            f"{self.engine}.warehouse", attributes.get("server", self.engine), attributes
        )


class PostgresConnection(LiveConnection):
    engine = "postgres"

    def attributes(self) -> dict[str, str]:
        return {
            "class": "postgres",
            "authentication": "username-password",
            "dbname": current(self.env).get("PGDATABASE"),
            "one-time-sql": "",
            "port": str(current(self.env).get("PGPORT")),
            "server": current(self.env).get("PGHOST"),
            "sslmode": current(self.env).get("PGSSLMODE"),
            "username": reader_role(self.env),
        }

    def table_reference(self, table: Table) -> str:
        return f"{_bracket(table.schema)}.{_bracket(table.name)}"


class SnowflakeConnection(LiveConnection):
    """Snowflake: the account, warehouse and database of the SNOWFLAKE_* variables, the reader
    role as the session role; each analyst signs in as themselves (no user, no password here)."""

    engine = "snowflake"
    required = ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_WAREHOUSE", "SNOWFLAKE_DATABASE")

    def attributes(self) -> dict[str, str]:
        account = self.env["SNOWFLAKE_ACCOUNT"]
        return {
            "class": "snowflake",
            "authentication": "Username Password",
            "dbname": self.env["SNOWFLAKE_DATABASE"],
            "schema": current(self.env).get("SNOWFLAKE_SCHEMA").upper(),
            "server": f"{account}.snowflakecomputing.com",
            "service": reader_role(self.env).upper(),
            "warehouse": self.env["SNOWFLAKE_WAREHOUSE"],
        }

    def table_reference(self, table: Table) -> str:
        # dbt creates unquoted names, which Snowflake stores upper-case
        database = self.env["SNOWFLAKE_DATABASE"].upper()
        return ".".join(_bracket(p) for p in (database, table.schema.upper(), table.name.upper()))


class DatabricksConnection(LiveConnection):
    """Databricks SQL: host, HTTP path and catalog of the DATABRICKS_* variables; analysts sign in
    with their own personal access token (username ``token``), which is never written here."""

    engine = "databricks"
    required = ("DATABRICKS_HOST", "DATABRICKS_HTTP_PATH")

    def attributes(self) -> dict[str, str]:
        return {
            "class": "databricks",
            "authentication": "auth-pass",
            "dbname": current(self.env).get("DATABRICKS_CATALOG"),
            "port": "443",
            "server": self.env["DATABRICKS_HOST"],
            "username": "token",
            "v-http-path": self.env["DATABRICKS_HTTP_PATH"],
        }

    def table_reference(self, table: Table) -> str:
        catalog = current(self.env).get("DATABRICKS_CATALOG")
        return ".".join(_bracket(p) for p in (catalog, table.schema, table.name))


#: --live <engine> -> its connection class
CONNECTIONS: dict[str, type[LiveConnection]] = {
    c.engine: c for c in (PostgresConnection, SnowflakeConnection, DatabricksConnection)
}


def live_connection(engine: str, env: Mapping[str, str] | None = None) -> LiveConnection:
    if engine not in CONNECTIONS:
        raise ValueError(f"--live {engine!r}: supported engines are {', '.join(CONNECTIONS)}")
    return CONNECTIONS[engine](os.environ if env is None else env)


# --------------------------------------------------------------------------- the XML


def _desc(parent: ET.Element, text: str) -> None:
    if not text:
        return
    run = ET.SubElement(ET.SubElement(ET.SubElement(parent, "desc"), "formatted-text"), "run")
    run.text = text


def _column_element(parent: ET.Element, f: Field) -> None:
    attributes = {
        "caption": f.caption,
        "datatype": f.datatype,
        "name": _bracket(f.name),
        "role": f.role,
        "type": f.type,
    }
    if f.aggregation:
        attributes["aggregation"] = f.aggregation
    if f.default_format:
        attributes["default-format"] = f.default_format
    if f.hidden:
        attributes["hidden"] = "true"
    if f.semantic_role:
        attributes["semantic-role"] = f.semantic_role
    element = ET.SubElement(parent, "column", attributes)
    if f.formula:
        ET.SubElement(element, "calculation", {"class": "tableau", "formula": f.formula})
    _desc(element, f.description)


def render(source: DataSource, connection: Connection) -> ET.ElementTree:
    """The ``.tds`` document of one data source."""
    root = ET.Element(
        "datasource",
        {
            "formatted-name": source.caption,
            "inline": "true",
            "source-platform": "linux",
            "version": TDS_VERSION,
        },
    )
    federated = ET.SubElement(root, "connection", {"class": "federated"})
    named = ET.SubElement(federated, "named-connections")
    seen: set[str] = set()
    by_table: dict[str, NamedConnection] = {}
    for table in source.tables:
        nc = connection.named_connection(table)
        by_table[table.name] = nc
        if nc.name in seen:
            continue
        seen.add(nc.name)
        holder = ET.SubElement(named, "named-connection", {"caption": nc.caption, "name": nc.name})
        ET.SubElement(holder, "connection", nc.attributes)

    def relation(parent: ET.Element, table: Table) -> None:
        ET.SubElement(
            parent,
            "relation",
            {
                "connection": by_table[table.name].name,
                "name": table.name,
                "table": connection.table_reference(table),
                "type": "table",
            },
        )

    collection = ET.SubElement(federated, "relation", {"type": "collection"})
    for table in source.tables:
        relation(collection, table)
    columns = [f for f in source.fields if f.column is not None]
    cols = ET.SubElement(federated, "cols")
    for f in columns:
        ET.SubElement(
            cols,
            "map",
            {"key": _bracket(f.name), "value": f"{_bracket(f.table)}.{_bracket(f.column)}"},
        )
    records = ET.SubElement(federated, "metadata-records")
    ordinals: dict[str, int] = {}
    for f in columns:
        record = ET.SubElement(records, "metadata-record", {"class": "column"})
        ordinal = ordinals[f.table] = ordinals.get(f.table, 0) + 1
        for tag, text in (
            ("remote-name", f.column),
            ("remote-type", REMOTE_TYPES[f.datatype]),
            ("local-name", _bracket(f.name)),
            ("parent-name", _bracket(f.table)),
            ("remote-alias", f.column),
            ("ordinal", str(ordinal)),
            ("local-type", f.datatype),
            ("aggregation", DEFAULT_AGGREGATION[f.datatype]),
            ("contains-null", "true"),
            ("object-id", _bracket(f.table)),
        ):
            ET.SubElement(record, tag).text = text

    ET.SubElement(root, "aliases", {"enabled": "yes"})
    for f in source.fields:
        _column_element(root, f)
    folders = ET.SubElement(root, "folders-common")
    for table in source.tables:
        visible = [f for f in source.fields if f.table == table.name and not f.hidden]
        if not visible:
            continue
        folder = ET.SubElement(folders, "folder", {"name": _folder_name(source, table)})
        for f in visible:
            ET.SubElement(folder, "folder-item", {"name": _bracket(f.name), "type": "field"})
    ET.SubElement(
        root,
        "layout",
        {"dim-ordering": "alphabetic", "measure-ordering": "alphabetic", "show-structure": "true"},
    )
    graph = ET.SubElement(root, "object-graph")
    objects = ET.SubElement(graph, "objects")
    for table in source.tables:
        obj = ET.SubElement(
            objects, "object", {"caption": _folder_name(source, table), "id": table.name}
        )
        relation(ET.SubElement(obj, "properties", {"context": ""}), table)
    relationships = ET.SubElement(graph, "relationships")
    for r in source.relationships:
        element = ET.SubElement(relationships, "relationship")
        expression = ET.SubElement(element, "expression", {"op": "="})
        ET.SubElement(
            expression, "expression", {"op": _bracket(source.field_of(r.table, r.column).name)}
        )
        ET.SubElement(
            expression,
            "expression",
            {"op": _bracket(source.field_of(r.to_table, r.to_column).name)},
        )
        ET.SubElement(element, "first-end-point", {"object-id": r.table})
        second = {"object-id": r.to_table}
        if r.unique:
            second["unique-key"] = "true"
        ET.SubElement(element, "second-end-point", second)
    ET.indent(root, space="  ")
    return ET.ElementTree(root)


def _folder_name(source: DataSource, table: Table) -> str:
    return humanize(table.name)


def to_bytes(tree: ET.ElementTree) -> bytes:
    return ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True) + b"\n"


def package(tds_name: str, tds: bytes, extracts: Mapping[str, Path], target: Path) -> None:
    """Write the ``.tdsx``: the ``.tds`` at the root, each extract as ``Data/<file>``."""
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(tds_name, tds)
        for arcname, path in sorted(extracts.items()):
            archive.write(path, arcname)
    tmp.replace(target)
