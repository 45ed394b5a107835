"""``python -m bi datasources``: the Tableau data sources generated from the project's dbt manifest.

The manifest comes from ``dbt parse`` on the real project, once for the module; the files are
written by the real command line. No Tableau document reader is installed (tableaudocumentapi is
not in the lock), so the checks read the XML themselves: every expectation is recomputed from the
manifest (descriptions, tests, keys), not copied from the generator. On PostgreSQL, the live data
sources are read field by field as the reader role from marts built from the committed sample.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from bi import areas
from tests.dbt_support import ROOT, run_dbt

pytestmark = pytest.mark.slow

EXPOSURE_ENV = {
    "TABLEAU_URL_BASE": "https://tableau.acme.test/#/site/analytics",
    "BI_ANALYTICS_OWNER_EMAIL": "bi-team@acme.test",
}
RATIO = re.compile(r"\s*([a-z_][a-z0-9_]*)\s*/\s*([a-z_][a-z0-9_]*)\b")


def bi(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bi", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("bi_manifest")
    done = run_dbt(work, EXPOSURE_ENV, "parse")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work / "target" / "manifest.json"


@pytest.fixture(scope="module")
def manifest(manifest_path) -> dict:
    return json.loads(manifest_path.read_text())


@pytest.fixture(scope="module")
def models(manifest) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


@pytest.fixture(scope="module")
def model_tests(manifest, models):
    """(test name) -> list of (model, column, kwargs, depends_on models)."""
    names = {
        uid: n["name"] for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"
    }
    found: dict[str, list] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or not node.get("test_metadata"):
            continue
        model = names.get(node.get("attached_node") or "")
        deps = [names[d] for d in node["depends_on"]["nodes"] if d in names]
        found.setdefault(node["test_metadata"]["name"], []).append(
            (model, node.get("column_name"), node["test_metadata"]["kwargs"], deps)
        )
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory, manifest_path):
    out = tmp_path_factory.mktemp("datasources")
    empty = tmp_path_factory.mktemp("no_extracts")
    done = bi(
        "datasources", "--manifest", str(manifest_path), "--out", str(out), "--extracts", str(empty)
    )
    assert done.returncode == 0, done.stderr
    return out, done


class Source:
    """A parsed .tds: its fields by (table, column), its calculations, relationships."""

    def __init__(self, path: Path):
        self.root = ET.parse(path).getroot()
        federated = self.root.find("connection")
        self.tables = [r.get("name") for r in federated.find("relation").findall("relation")]
        self.by_name = {c.get("name"): c for c in self.root.findall("column")}
        self.local = {}  # (table, column) -> field name, in brackets
        for m in federated.find("cols").findall("map"):
            table, column = re.fullmatch(r"\[(.+)\]\.\[(.+)\]", m.get("value")).groups()
            self.local[(table, column)] = m.get("key")
        self.records = {
            (r.findtext("parent-name").strip("[]"), r.findtext("remote-name"))
            for r in federated.find("metadata-records").findall("metadata-record")
        }
        self.calculations = {
            c.get("name"): c.find("calculation").get("formula")
            for c in self.root.findall("column")
            if c.find("calculation") is not None
        }
        graph = self.root.find("object-graph")
        self.objects = [o.get("id") for o in graph.find("objects").findall("object")]
        self.relationships = []
        for r in graph.find("relationships").findall("relationship"):
            left, right = (e.get("op") for e in r.find("expression").findall("expression"))
            self.relationships.append(
                (
                    r.find("first-end-point").get("object-id"),
                    left,
                    r.find("second-end-point").get("object-id"),
                    right,
                )
            )
        self.reverse = {v: k for k, v in self.local.items()}

    def column(self, table: str, column: str) -> ET.Element:
        return self.by_name[self.local[(table, column)]]

    def description(self, element: ET.Element) -> str:
        return element.findtext("desc/formatted-text/run") or ""


@pytest.fixture(scope="module")
def sources(generated) -> dict[str, Source]:
    out, _ = generated
    return {area: Source(out / f"{area}.tds") for area in areas.AREAS}


def _desc(text: str | None) -> str:
    return " ".join((text or "").split())


def test_every_area_gets_a_tds_and_a_tdsx_holding_it_at_its_root(generated):
    out, done = generated
    for area in areas.AREAS:
        ET.parse(out / f"{area}.tds")
        with zipfile.ZipFile(out / f"{area}.tdsx") as archive:
            assert archive.testzip() is None
            # no extracts were made: the package holds the .tds alone, and that works
            assert archive.namelist() == [f"{area}.tds"]
            ET.fromstring(archive.read(f"{area}.tds"))
    assert f"bi datasources: {len(areas.AREAS)} data sources (hyper)" in done.stdout


def test_each_data_source_has_its_tables_and_a_field_for_every_column(sources, models):
    for area, tables in areas.AREAS.items():
        source = sources[area]
        assert set(tables) <= set(source.tables), area
        assert source.objects == source.tables
        expected = {(t, c) for t in source.tables for c in models[t]["columns"]}
        assert source.records == expected, area
        assert set(source.local) == expected, area
        # field names are unique in the data source
        assert len(source.by_name) == len(source.root.findall("column"))


def test_captions_are_the_column_names_and_descriptions_the_dbt_docs(sources, models):
    for area, source in sources.items():
        for (table, column), name in source.local.items():
            element = source.by_name[name]
            described = _desc(models[table]["columns"][column]["description"])
            assert source.description(element).startswith(described), (area, table, column)
            caption = re.sub(r" \([A-Z][^()]*\)$", "", element.get("caption"))  # its table
            caption = caption.removesuffix(", stored per row")
            words = re.sub(r"[()]", "", caption).lower()
            assert words == column.replace("_", " "), (area, table, column, caption)
        captions = [c.get("caption") for c in source.root.findall("column")]
        assert len(captions) == len(set(captions)), area


def test_numerators_denominators_and_money_are_summed(sources, models):
    checked = 0
    for source in sources.values():
        for table in source.tables:
            columns = models[table]["columns"]
            parts = set()
            for column in columns.values():
                match = RATIO.match(column["description"] or "")
                if match and set(match.groups()) <= set(columns):
                    parts |= set(match.groups())
            money = {
                name
                for name, column in columns.items()
                if "USD" in (column["description"] or "")
                and not table.startswith("dim_")
                and (table, name) not in areas.MEASURES
            }
            for name in parts | money:
                if (table, name) in areas.MEASURES:
                    continue
                element = source.column(table, name)
                assert element.get("role") == "measure", (table, name)
                assert element.get("aggregation") == "Sum", (table, name)
                if name in money:
                    assert element.get("default-format", "").startswith('c"$"'), (table, name)
                checked += 1
    assert checked > 20


def test_ratios_are_sum_over_sum_calculations_never_an_average(sources, models):
    seen = []
    for area, source in sources.items():
        for table in source.tables:
            columns = models[table]["columns"]
            for name, column in columns.items():
                match = RATIO.match(column["description"] or "")
                if not match or not set(match.groups()) <= set(columns):
                    continue
                if (table, name) in areas.NO_EXACT_RATIO:
                    continue
                numerator, denominator = (source.local[(table, part)] for part in match.groups())
                formula = f"SUM({numerator}) / SUM({denominator})"
                calcs = [n for n, f in source.calculations.items() if f == formula]
                assert len(calcs) == 1, (area, table, name, formula)
                calc = source.by_name[calcs[0]]
                assert calc.get("role") == "measure" and calc.get("aggregation") is None
                if name.endswith(("_rate", "_share", "_yield")):
                    assert calc.get("default-format", "").startswith("p"), (table, name)
                stored = source.column(table, name)
                assert stored.get("hidden") == "true", (table, name)
                seen.append(f"{table}.{name}")
        for name, formula in source.calculations.items():
            assert "AVG(" not in formula.upper(), (area, name, formula)
        for element in source.root.findall("column"):
            assert element.get("aggregation") != "Avg" or not re.search(
                r"(_rate|_share|_yield|_per_|^\[avg_)", element.get("name")
            ), element.get("name")
    for expected in (
        "metrics_delivery_performance.on_time_rate",
        "metrics_quality.defect_rate",
        "metrics_product_performance.return_rate",
        "metrics_customer_cohorts.retention_rate",
    ):
        assert expected in seen


def test_a_rate_without_its_parts_is_not_aggregated_and_is_listed(sources, models, generated):
    _, done = generated
    listed = re.search(r"rates without numerator/denominator \(not aggregated\): (.*)", done.stdout)
    assert listed, done.stdout
    names = listed.group(1).split(", ")
    columns = models["metrics_delivery_performance"]["columns"]
    if not RATIO.match(columns["avg_days_late"]["description"]):
        assert "metrics_delivery_performance.avg_days_late" in names
    for name in names:
        table, column = name.split(".")
        for source in sources.values():
            if (table, column) not in source.local:
                continue
            element = source.column(table, column)
            assert element.get("aggregation") is None
            assert element.get("role") == "dimension"
            assert "Not aggregated" in source.description(element)


def test_keys_are_hidden(sources, model_tests, models):
    keys = {(m, c) for m, c, _, _ in model_tests["unique"]}
    keys |= {(m, c) for m, c, _, _ in model_tests["relationships"]}
    hidden = 0
    for source in sources.values():
        for (table, column), name in source.local.items():
            data_type = models[table]["columns"][column]["data_type"]
            key = (table, column) in keys and data_type in ("bigint", "integer", "string")
            if key or column.endswith(("_id", "_key")):
                assert source.by_name[name].get("hidden") == "true", (table, column)
                hidden += 1
            elif column in ("channel", "carrier_name", "facility_name", "product_name"):
                assert source.by_name[name].get("hidden") is None, (table, column)
    assert hidden > 30


def test_relationships_come_from_dbt_tests_and_join_every_table(sources, model_tests, models):
    tested = {
        (m, c, next(d for d in deps if d != m), kwargs["field"])
        for m, c, kwargs, deps in model_tests["relationships"]
    }
    unique = {(m, c) for m, c, _, _ in model_tests["unique"]}
    for area, source in sources.items():
        pairs = set()
        for first, left, second, right in source.relationships:
            table, column = source.reverse[left]
            to_table, to_column = source.reverse[right]
            assert (table, first) == (table, table) and (to_table, second) == (to_table, to_table)
            origin = (
                (table, column, to_table, to_column) in tested
                or (
                    to_table.startswith("dim_")
                    and column == to_column
                    and (to_table, column) in unique
                )
                or (to_table, to_column) == areas.CALENDAR
            )
            assert origin, (area, table, column, to_table, to_column)
            pairs.add((table, to_table))
        # Tableau relates every table of a data source, without loops: a tree
        assert len(source.relationships) == len(source.objects) - 1, area
        reached, frontier = {source.objects[0]}, [source.objects[0]]
        while frontier:
            here = frontier.pop()
            for a, b in pairs:
                for there in (b,) if a == here else (a,) if b == here else ():
                    if there not in reached:
                        reached.add(there)
                        frontier.append(there)
        assert reached == set(source.objects), area
    delivery = sources["delivery"]
    assert (
        "fct_shipments",
        delivery.local[("fct_shipments", "carrier_id")],
        "dim_carrier",
        delivery.local[("dim_carrier", "carrier_id")],
    ) in delivery.relationships


def test_live_postgres_signs_in_as_the_reader_role_and_holds_no_password(
    tmp_path, manifest_path, models
):
    secret = "do-not-write-this-3b9f"
    env = {
        "PGHOST": "warehouse.internal",
        "PGPORT": "6543",
        "PGDATABASE": "analytics",
        "PGPASSWORD": secret,
        "WAREHOUSE_READER_PASSWORD": secret,
        "WAREHOUSE_READER_ROLE": "bi_readers",
    }
    done = bi(
        "datasources", "--manifest", str(manifest_path), "--out", str(tmp_path), "--live", "postgres",
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for area in areas.AREAS:
        data = (tmp_path / f"{area}.tds").read_bytes()
        assert secret.encode() not in data
        root = ET.fromstring(data)
        (connection,) = root.findall("connection/named-connections/named-connection/connection")
        assert connection.get("class") == "postgres"
        assert connection.get("username") == "bi_readers"
        assert (connection.get("server"), connection.get("port")) == ("warehouse.internal", "6543")
        assert not any("password" in k.lower() for e in root.iter() for k in e.attrib)
        for relation in root.find("connection/relation").findall("relation"):
            model = models[relation.get("name")]
            assert relation.get("table") == f"[{model['schema']}].[{model['name']}]"
        with zipfile.ZipFile(tmp_path / f"{area}.tdsx") as archive:
            assert archive.read(f"{area}.tds") == data
    unset = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_READER_ROLE"}
    done = subprocess.run(
        [sys.executable, "-m", "bi", "datasources", "--manifest", str(manifest_path),
         "--out", str(tmp_path / "default"), "--live", "postgres", "--area", "quality"],
        cwd=ROOT, env=unset, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    root = ET.parse(tmp_path / "default" / "quality.tds").getroot()
    assert root.find(".//named-connection/connection").get("username") == "analytics_reader"


def test_live_snowflake_and_databricks_take_their_settings_from_the_environment(
    tmp_path, manifest_path
):
    base = ["datasources", "--manifest", str(manifest_path), "--area", "quality"]
    snowflake = {
        "SNOWFLAKE_ACCOUNT": "xy12345.eu-west-1",
        "SNOWFLAKE_WAREHOUSE": "BI_WH",
        "SNOWFLAKE_DATABASE": "ANALYTICS",
        "SNOWFLAKE_PASSWORD": "not-in-the-file",
    }
    done = bi(*base, "--out", str(tmp_path / "sf"), "--live", "snowflake", env=snowflake)
    assert done.returncode == 0, done.stderr
    data = (tmp_path / "sf" / "quality.tds").read_text()
    assert "not-in-the-file" not in data
    connection = ET.fromstring(data).find(".//named-connection/connection")
    assert connection.get("server") == "xy12345.eu-west-1.snowflakecomputing.com"
    assert connection.get("warehouse") == "BI_WH"
    assert (
        connection.get("service")
        == os.environ.get("WAREHOUSE_READER_ROLE", "analytics_reader").upper()
    )
    assert "[ANALYTICS].[METRICS].[METRICS_QUALITY]" in data

    databricks = {"DATABRICKS_HOST": "adb-1.azuredatabricks.net", "DATABRICKS_HTTP_PATH": "/sql/1"}
    done = bi(*base, "--out", str(tmp_path / "dbx"), "--live", "databricks", env=databricks)
    assert done.returncode == 0, done.stderr
    connection = ET.parse(tmp_path / "dbx" / "quality.tds").find(".//named-connection/connection")
    assert connection.get("server") == "adb-1.azuredatabricks.net"
    assert connection.get("v-http-path") == "/sql/1"

    empty = {k: "" for k in snowflake}
    done = bi(*base, "--out", str(tmp_path / "none"), "--live", "snowflake", env=empty)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "SNOWFLAKE_ACCOUNT" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "none").exists()


def test_an_extract_that_exists_is_packaged_under_data(tmp_path, manifest_path):
    from tableauhyperapi import (
        Connection,
        CreateMode,
        HyperProcess,
        Inserter,
        SchemaName,
        SqlType,
        TableDefinition,
        TableName,
        Telemetry,
    )

    extracts = tmp_path / "extracts"
    extracts.mkdir()
    hyper_file = extracts / "dim_facility.hyper"
    table = TableName("public", "dim_facility")
    with (
        HyperProcess(
            Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}
        ) as hp,
        Connection(hp.endpoint, str(hyper_file), CreateMode.CREATE_AND_REPLACE) as conn,
    ):
        conn.catalog.create_schema_if_not_exists(SchemaName("public"))
        definition = TableDefinition(
            table, [TableDefinition.Column("facility_id", SqlType.big_int())]
        )
        conn.catalog.create_table(definition)
        with Inserter(conn, definition) as inserter:
            inserter.add_rows([[1], [2]])
            inserter.execute()
    out = tmp_path / "out"
    done = bi(
        "datasources", "--manifest", str(manifest_path), "--out", str(out),
        "--extracts", str(extracts), "--area", "quality",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "extracts packaged 1/3" in done.stdout
    with zipfile.ZipFile(out / "quality.tdsx") as archive:
        assert sorted(archive.namelist()) == ["Data/dim_facility.hyper", "quality.tds"]
        assert archive.read("Data/dim_facility.hyper") == hyper_file.read_bytes()
        packaged = ET.fromstring(archive.read("quality.tds"))
    connections = {
        c.get("caption"): c.find("connection") for c in packaged.iter("named-connection")
    }
    inside = connections["dim_facility"]
    assert (inside.get("dbname"), inside.get("schema"), inside.get("tablename")) == (
        "Data/dim_facility.hyper",
        "public",
        "dim_facility",
    )
    assert connections["metrics_quality"].get("dbname") == str(extracts / "metrics_quality.hyper")
    standalone = ET.parse(out / "quality.tds").getroot()
    dbnames = {c.get("dbname") for c in standalone.iter("connection") if c.get("class") == "hyper"}
    assert str(hyper_file) in dbnames


def test_names_and_descriptions_with_markup_are_escaped(tmp_path, manifest_path):
    manifest = json.loads(manifest_path.read_text())
    node = manifest["nodes"]["model.analytics_platform.metrics_quality"]
    tricky = "Defects <b>found</b> & \"quoted\" 'too' ]]> in the samples."
    node["columns"]["defects"]["description"] = tricky
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    done = bi(
        "datasources", "--manifest", str(path), "--out", str(tmp_path / "o"), "--area", "quality"
    )
    assert done.returncode == 0, done.stderr
    source = Source(tmp_path / "o" / "quality.tds")
    assert source.description(source.column("metrics_quality", "defects")).startswith(tricky)

    node["columns"]["defects"]["name"] = "defects]; drop"
    node["columns"]["defects]; drop"] = node["columns"].pop("defects")
    path.write_text(json.dumps(manifest))
    done = bi(
        "datasources", "--manifest", str(path), "--out", str(tmp_path / "p"), "--area", "quality"
    )
    assert done.returncode == 1
    assert "is not a plain lower-case identifier" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_a_model_can_name_its_area_in_its_meta(tmp_path, manifest_path):
    manifest = json.loads(manifest_path.read_text())
    nodes = manifest["nodes"]
    nodes["model.analytics_platform.fct_delivery_feedback"]["config"]["meta"] = {
        "bi": {"area": "customers"}
    }
    nodes["model.analytics_platform.fct_waste_events"]["config"]["meta"] = {
        "bi": {"area": ["sustainability", "quality"]}
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    done = bi("datasources", "--manifest", str(path), "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    tables = {area: Source(tmp_path / "o" / f"{area}.tds").tables for area in areas.AREAS}
    assert "fct_delivery_feedback" in tables["customers"]
    assert "fct_delivery_feedback" not in tables["delivery"]
    assert (
        "fct_waste_events" in tables["quality"] and "fct_waste_events" in tables["sustainability"]
    )

    nodes["model.analytics_platform.fct_waste_events"]["config"]["meta"] = {"bi": {"area": "ops"}}
    path.write_text(json.dumps(manifest))
    done = bi("datasources", "--manifest", str(path), "--out", str(tmp_path / "p"))
    assert done.returncode == 1
    assert "'ops' is no subject area; supported: sales, delivery" in done.stderr


def test_the_dashboards_exposures_link_to_the_configured_tableau_site(manifest):
    dashboards = [e for e in manifest["exposures"].values() if e["name"].startswith("tableau_")]
    assert len(dashboards) == 3
    for exposure in dashboards:
        assert exposure["url"].startswith(EXPOSURE_ENV["TABLEAU_URL_BASE"] + "/views/")
        assert exposure["owner"]["name"] and "@" in exposure["owner"]["email"]
    owners = {e["owner"]["name"]: e["owner"]["email"] for e in dashboards}
    assert owners["Analytics team"] == EXPOSURE_ENV["BI_ANALYTICS_OWNER_EMAIL"]
    assert not any("tableau.example.com" in e["url"] for e in manifest["exposures"].values())


def test_the_guide_tables_are_current(manifest_path):
    from bi import semantics
    from bi.datasources import GUIDE_END, GUIDE_START

    guide = (ROOT / "docs" / "bi.md").read_text()
    current = guide.split(GUIDE_START)[1].split(GUIDE_END)[0].strip()
    expected = semantics.guide_markdown(semantics.load_project(manifest_path)).strip()
    assert current == expected, (
        "docs/bi.md is stale: run python -m bi datasources --guide docs/bi.md"
    )
    for area in areas.AREAS:
        for table in areas.AREAS[area]:
            assert f"`{table}`" in current
    assert "README.md" not in current and "(docs/bi.md)" in (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def pg_marts(tmp_path_factory):
    """Marts and metrics on the real PostgreSQL server, in a database of their own, with the reader
    role made by ``python -m ingestion roles`` (names unique to the run: roles are server-wide)."""
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    database, reader, pipeline = f"bi_t{suffix}", f"bi_reader_t{suffix}", f"bi_pipeline_t{suffix}"
    admin_env = {
        "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PGPORT": os.environ.get("PGPORT", "5432"),
        "PGUSER": os.environ.get("PGUSER", "postgres"),
    }
    work = tmp_path_factory.mktemp("bi_pg")
    shutil.copytree(ROOT / "sample_data", work / "landing")
    env = {
        **os.environ,
        **admin_env,
        "PGDATABASE": database,
        "WAREHOUSE_TARGET": "postgres",
        "WAREHOUSE_READER_ROLE": reader,
        "WAREHOUSE_PIPELINE_ROLE": pipeline,
        "WAREHOUSE_READER_PASSWORD": "reader-test-password",  # the server trusts 127.0.0.1
        "LANDING_DIR": str(work / "landing"),
    }
    admin = psycopg.connect(
        dbname="postgres",
        autocommit=True,
        host=admin_env["PGHOST"],
        port=admin_env["PGPORT"],
        user=admin_env["PGUSER"],
    )
    admin.execute(f'create database "{database}"')
    try:
        for args in (["roles"], ["load", "--all", "--quiet"]):
            done = subprocess.run(
                [sys.executable, "-m", "ingestion", *args],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        built = run_dbt(work, env, "build", "--resource-type", "model")
        assert built.returncode == 0, built.stdout[-6000:]
        yield env, work / "target" / "manifest.json"
    finally:
        admin.execute(f'drop database if exists "{database}" with (force)')
        for role in (reader, pipeline):
            admin.execute(f'drop role if exists "{role}"')
        admin.close()


@pytest.mark.postgres
def test_the_live_postgres_data_sources_read_every_field_as_the_reader_role(tmp_path, pg_marts):
    """What Tableau would do with a live .tds: connect with the file's server, port, database and
    user (the reader role) and select every field of every table it names."""
    import psycopg
    from psycopg import sql

    env, manifest_path = pg_marts
    done = bi(
        "datasources", "--manifest", str(manifest_path), "--out", str(tmp_path), "--live", "postgres",
        env={k: env[k] for k in ("PGHOST", "PGPORT", "PGDATABASE", "WAREHOUSE_READER_ROLE")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    selected = 0
    for area in areas.AREAS:
        root = ET.parse(tmp_path / f"{area}.tds").getroot()
        connection = root.find(".//named-connection/connection")
        assert connection.get("username") == env["WAREHOUSE_READER_ROLE"]
        columns: dict[str, list[str]] = {}
        for record in root.iter("metadata-record"):
            table = record.findtext("parent-name").strip("[]")
            columns.setdefault(table, []).append(record.findtext("remote-name"))
        with psycopg.connect(
            host=connection.get("server"),
            port=connection.get("port"),
            dbname=connection.get("dbname"),
            user=connection.get("username"),
            autocommit=True,
        ) as conn:
            for relation in root.find("connection/relation").findall("relation"):
                schema, table = re.fullmatch(
                    r"\[(\w+)\]\.\[(\w+)\]", relation.get("table")
                ).groups()
                query = sql.SQL("select {} from {}.{} limit 1").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns[relation.get("name")]),
                    sql.Identifier(schema),
                    sql.Identifier(table),
                )
                row = conn.execute(query).fetchone()
                assert row is not None, f"{schema}.{table} is empty"
                selected += 1
    assert selected == sum(len(Source(tmp_path / f"{a}.tds").tables) for a in areas.AREAS)


def test_an_unreadable_extract_is_one_line_naming_the_file(tmp_path, manifest_path):
    extracts = tmp_path / "extracts"
    extracts.mkdir()
    (extracts / "dim_facility.hyper").write_bytes(b"not a hyper file")
    done = bi(
        "datasources", "--manifest", str(manifest_path), "--out", str(tmp_path / "o"),
        "--extracts", str(extracts), "--area", "quality",
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"{extracts / 'dim_facility.hyper'}: not a readable extract" in done.stderr
