"""Who may read what: the reader and pipeline roles, dbt grants and persisted docs.

On the real PostgreSQL server, in a database of its own: ``python -m ingestion roles`` (as the
superuser) creates a reader and a pipeline role (names unique to the test run: roles belong to
the whole server); bronze is loaded and dbt builds every model AS THE PIPELINE ROLE; then the
reader selects the marts and metrics and is refused bronze, ``_rejects``, staging and
intermediate, and the pipeline role is refused CREATE ROLE. Snowflake and Databricks get the
same grants from dbt_project.yml, checked in the manifest (nothing connects there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dbt_support import run_dbt

ROOT = Path(__file__).resolve().parent.parent
ADMIN = {
    "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
    "PGPORT": os.environ.get("PGPORT", "5432"),
    "PGUSER": os.environ.get("PGUSER", "postgres"),
}
DAYS = ("2026-01-01", "2026-01-03")
CLOSED_TO_READER = (
    "bronze.orders",
    "bronze.customers",
    "bronze._rejects",
    "bronze._load_audit",
    "staging.stg_bronze__customer_versions",
    "staging.stg_bronze__orders",
    "intermediate.int_customer_versions",
)
OPEN_TO_READER = (
    "marts.dim_customer",
    "marts.fct_orders",
    "metrics.metrics_sales_performance",
    "metrics.metrics_customer_analytics",
)


def _ingestion(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestion", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _connect(env: dict[str, str], user: str):
    import psycopg

    return psycopg.connect(
        host=env["PGHOST"], port=env["PGPORT"], user=user, dbname=env["PGDATABASE"], autocommit=True
    )


@dataclass
class Warehouse:
    env: dict[str, str]  # the admin's, on the test database
    reader: str
    pipeline: str
    work: Path
    setup_output: list[str]

    def as_role(self, role: str):
        return _connect(self.env, role)

    def manifest(self) -> dict:
        return json.loads((self.work / "target" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Iterator[Warehouse]:
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    database, reader, pipeline = f"roles_t{suffix}", f"reader_t{suffix}", f"pipeline_t{suffix}"
    work = tmp_path_factory.mktemp("roles")
    landing = work / "landing"
    shutil.copytree(ROOT / "sample_data", landing)
    admin = psycopg.connect(dbname="postgres", autocommit=True, **_kwargs(ADMIN))
    admin.execute(f'create database "{database}"')
    env = {
        **os.environ,
        **ADMIN,
        "PGDATABASE": database,
        "WAREHOUSE_TARGET": "postgres",
        "WAREHOUSE_READER_ROLE": reader,
        "WAREHOUSE_PIPELINE_ROLE": pipeline,
        # the server trusts 127.0.0.1: the passwords only make the roles LOGIN roles
        "WAREHOUSE_READER_PASSWORD": "reader-test-password",
        "WAREHOUSE_PIPELINE_PASSWORD": "pipeline-test-password",
        "LANDING_DIR": str(landing),
    }
    try:
        outputs = []
        for _ in range(2):  # idempotent: the second run changes nothing and fails nothing
            setup = _ingestion(env, "roles")
            assert setup.returncode == 0, setup.stderr
            outputs.append(setup.stdout.strip())
        as_pipeline = {**env, "PGUSER": pipeline, "PGPASSWORD": "pipeline-test-password"}
        loaded = _ingestion(as_pipeline, "load", "--from", DAYS[0], "--to", DAYS[1], "--quiet")
        assert loaded.returncode == 0, loaded.stdout[-3000:] + loaded.stderr[-3000:]
        built = run_dbt(work, as_pipeline, "build", "--resource-type", "model")
        assert built.returncode == 0, built.stdout[-6000:]
        yield Warehouse(env, reader, pipeline, work, outputs)
    finally:
        admin.execute(f'drop database if exists "{database}" with (force)')
        for role in (reader, pipeline):
            admin.execute(f'drop role if exists "{role}"')
        admin.close()


def _kwargs(env: dict[str, str]) -> dict[str, str]:
    return {"host": env["PGHOST"], "port": env["PGPORT"], "user": env["PGUSER"]}


# ------------------------------------------------------------------------ PostgreSQL
@pytest.mark.postgres
def test_setup_creates_both_roles_once_and_is_idempotent(warehouse):
    first, second = warehouse.setup_output
    assert f"{warehouse.reader} created, LOGIN" in first
    assert f"{warehouse.pipeline} created, LOGIN" in first
    assert f"{warehouse.reader} updated, LOGIN" in second
    assert "handed to the pipeline" not in second
    with warehouse.as_role(warehouse.env["PGUSER"]) as conn:
        rows = conn.execute(
            "select rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolcanlogin "
            "from pg_roles where rolname = any(%s) order by rolname",
            [[warehouse.reader, warehouse.pipeline]],
        ).fetchall()
    # neither is a superuser, nor may create roles or databases, nor bypass row security
    limited = (False, False, False, False, True)
    assert rows == sorted([(warehouse.reader, *limited), (warehouse.pipeline, *limited)])


@pytest.mark.postgres
def test_reader_selects_the_marts_and_metrics(warehouse):
    with warehouse.as_role(warehouse.reader) as conn:
        for relation in OPEN_TO_READER:
            rows = conn.execute(f"select count(*) from {relation}").fetchone()[0]
            assert rows > 0, f"{relation} is empty for the reader"


@pytest.mark.postgres
@pytest.mark.parametrize("relation", CLOSED_TO_READER)
def test_reader_is_refused_bronze_rejects_staging_and_intermediate(warehouse, relation):
    import psycopg

    # the pipeline (the owner) reads it: the relation is there and holds rows
    with warehouse.as_role(warehouse.pipeline) as conn:
        conn.execute(f"select count(*) from {relation}").fetchone()
    with (
        warehouse.as_role(warehouse.reader) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"),
    ):
        conn.execute(f"select count(*) from {relation}")


@pytest.mark.postgres
def test_reader_reads_the_quality_results_the_pipeline_writes_later(warehouse):
    """The metrics API's /alerts reads quality.anomaly_results: a table the pipeline makes after
    the roles were set up is readable by the reader (default privileges), bronze still is not."""
    import psycopg

    table = f"quality.results_{uuid.uuid4().hex[:6]}"
    with warehouse.as_role(warehouse.pipeline) as conn:
        conn.execute(f"create table {table} (metric text, z double precision)")
        conn.execute(f"insert into {table} values ('revenue', 4.2)")
    with warehouse.as_role(warehouse.reader) as conn:
        assert conn.execute(f"select metric, z from {table}").fetchall() == [("revenue", 4.2)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(f"insert into {table} values ('x', 0)")
    with (
        warehouse.as_role(warehouse.reader) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"),
    ):
        conn.execute("select count(*) from bronze.orders")


@pytest.mark.postgres
def test_reader_has_select_only_and_on_every_mart_and_metric(warehouse):
    import psycopg

    manifest = warehouse.manifest()
    granted_models = {
        f"{n['schema']}.{n['alias']}"
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
        and n["schema"] in ("marts", "metrics")
        and n["config"]["enabled"]
        and "ml" not in n["tags"]
    }
    with warehouse.as_role(warehouse.env["PGUSER"]) as conn:
        grants = conn.execute(
            "select table_schema || '.' || table_name, privilege_type "
            "from information_schema.role_table_grants where grantee = %s",
            [warehouse.reader],
        ).fetchall()
    assert {privilege for _, privilege in grants} == {"SELECT"}
    # dbt's grants, and the quality results (ingestion/roles.py READER_RESULT_SCHEMAS)
    relations = {relation for relation, _ in grants}
    assert {r for r in relations if not r.startswith("quality.")} == granted_models
    with warehouse.as_role(warehouse.reader) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create table marts.reader_scratch (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from marts.dim_customer")


@pytest.mark.postgres
def test_pipeline_owns_its_schemas_and_cannot_create_roles(warehouse):
    import psycopg

    with warehouse.as_role(warehouse.pipeline) as conn:
        owners = dict(
            conn.execute(
                "select nspname, pg_get_userbyid(nspowner) from pg_namespace "
                "where nspname in ('bronze', 'staging', 'intermediate', 'marts', 'metrics')"
            ).fetchall()
        )
        assert owners == dict.fromkeys(
            ("bronze", "staging", "intermediate", "marts", "metrics"), warehouse.pipeline
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="create role"):
            conn.execute(f'create role "{warehouse.pipeline}_child"')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'alter role "{warehouse.pipeline}" superuser')
    # the admin who ran the setup can (the refusal above is the pipeline's, not the server's)
    with warehouse.as_role(warehouse.env["PGUSER"]) as conn:
        conn.execute(f'create role "{warehouse.pipeline}_child"')
        conn.execute(f'drop role "{warehouse.pipeline}_child"')


@pytest.mark.postgres
def test_descriptions_are_table_and_column_comments(warehouse):
    nodes = {n["name"]: n for n in warehouse.manifest()["nodes"].values() if "name" in n}
    checks = {
        "marts.dim_customer": nodes["dim_customer"],
        "metrics.metrics_sales_performance": nodes["metrics_sales_performance"],
        "staging.stg_bronze__customer_versions": nodes["stg_bronze__customer_versions"],
        "intermediate.int_customer_versions": nodes["int_customer_versions"],
    }
    with warehouse.as_role(warehouse.reader) as conn:
        # the reader sees the comments of what it may read
        comment = conn.execute("select obj_description('marts.dim_customer'::regclass)").fetchone()
        assert comment == (nodes["dim_customer"]["description"],)
    with warehouse.as_role(warehouse.pipeline) as conn:
        for relation, node in checks.items():
            table = conn.execute("select obj_description(%s::regclass)", [relation]).fetchone()[0]
            assert table == node["description"], relation
            columns = dict(
                conn.execute(
                    "select a.attname, col_description(a.attrelid, a.attnum) "
                    "from pg_attribute as a where a.attrelid = %s::regclass and a.attnum > 0",
                    [relation],
                ).fetchall()
            )
            documented = {c: v["description"] for c, v in node["columns"].items()}
            assert documented, relation
            assert {c: columns[c] for c in documented} == documented, relation


@pytest.mark.postgres
def test_setup_hands_existing_schemas_to_the_pipeline_and_is_nologin_without_password():
    """A warehouse first built as the superuser: its schemas and tables change hands."""
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    database, reader, pipeline = f"roles_h{suffix}", f"reader_h{suffix}", f"pipeline_h{suffix}"
    env = {
        **os.environ,
        **ADMIN,
        "PGDATABASE": database,
        "WAREHOUSE_TARGET": "postgres",
        "WAREHOUSE_READER_ROLE": reader,
        "WAREHOUSE_PIPELINE_ROLE": pipeline,
    }
    for name in ("WAREHOUSE_READER_PASSWORD", "WAREHOUSE_PIPELINE_PASSWORD"):
        env.pop(name, None)
    with psycopg.connect(dbname="postgres", autocommit=True, **_kwargs(ADMIN)) as admin:
        admin.execute(f'create database "{database}"')
        try:
            with _connect(env, ADMIN["PGUSER"]) as conn:
                conn.execute("create schema bronze")
                conn.execute("create table bronze.orders (order_id bigserial primary key)")
                conn.execute("create view bronze.v_orders as select * from bronze.orders")
            setup = _ingestion(env, "roles")
            assert setup.returncode == 0, setup.stderr
            assert "handed to the pipeline: bronze (2 relations)" in setup.stdout
            assert f"{reader} created, NOLOGIN (set WAREHOUSE_READER_PASSWORD" in setup.stdout
            with _connect(env, ADMIN["PGUSER"]) as conn:
                owners = conn.execute(
                    "select c.relname, pg_get_userbyid(c.relowner) from pg_class as c "
                    "join pg_namespace as n on n.oid = c.relnamespace "
                    "where n.nspname = 'bronze' order by 1"
                ).fetchall()
                logins = conn.execute(
                    "select bool_or(rolcanlogin) from pg_roles where rolname = any(%s)",
                    [[reader, pipeline]],
                ).fetchone()[0]
            # the table, its key's index and sequence, and the view
            assert {owner for _, owner in owners} == {pipeline}, owners
            assert len(owners) == 4
            assert logins is False
            with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
                _connect(env, reader)
        finally:
            admin.execute(f'drop database if exists "{database}" with (force)')
            for role in (reader, pipeline):
                admin.execute(f'drop role if exists "{role}"')


# --------------------------------------------------------------------- without a server
@pytest.mark.parametrize(
    "name", ['x"; drop table bronze.orders; --', "Reader", "1reader", "a b", "reader\n"]
)
def test_a_role_name_that_is_not_a_plain_identifier_is_refused_before_connecting(name):
    env = {**os.environ, "WAREHOUSE_TARGET": "postgres", "WAREHOUSE_READER_ROLE": name}
    env["PGHOST"] = "127.0.0.1"
    env["PGPORT"] = "1"  # nothing listens: a refusal must come before any connection
    done = _ingestion(env, "roles")
    assert done.returncode == 2
    assert "WAREHOUSE_READER_ROLE=" in done.stderr and "is not a role name" in done.stderr
    assert "Traceback" not in done.stderr


def test_roles_is_refused_on_a_warehouse_without_roles(tmp_path):
    env = {**os.environ, "WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(tmp_path / "w.duckdb")}
    done = _ingestion(env, "roles")
    assert done.returncode == 2
    assert "roles is for WAREHOUSE_TARGET=postgres, not duckdb" in done.stderr


DUMMY = {
    "databricks": {
        "DATABRICKS_HOST": "dummy.cloud.databricks.com",
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/dummy",
        "DATABRICKS_TOKEN": "dummy-token",
    },
    "snowflake": {
        "SNOWFLAKE_ACCOUNT": "dummy",
        "SNOWFLAKE_USER": "dummy",
        "SNOWFLAKE_PASSWORD": "dummy",
        "SNOWFLAKE_ROLE": "dummy",
        "SNOWFLAKE_WAREHOUSE": "dummy",
        "SNOWFLAKE_DATABASE": "dummy",
    },
}


@pytest.mark.parametrize("target", sorted(DUMMY))
def test_remote_engines_get_the_same_grants_and_comments(target, tmp_path):
    pytest.importorskip(f"dbt.adapters.{target}")
    env = {**DUMMY[target], "WAREHOUSE_TARGET": target, "WAREHOUSE_READER_ROLE": "bi_readers"}
    parsed = run_dbt(tmp_path, env, "parse")
    assert parsed.returncode == 0, parsed.stdout[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == target
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    granted = {n["name"] for n in models if n["config"].get("grants")}
    expected = {n["name"] for n in models if n["fqn"][1] in ("marts", "metrics", "ml")}
    assert granted == expected
    assert {"dim_customer", "fct_orders", "metrics_sales_performance"} <= granted
    assert all(
        n["config"]["grants"] == {"select": ["bi_readers"]} for n in models if n["name"] in granted
    )
    # staging and the intermediate validity windows are the pipeline's: never granted
    ungranted = {n["name"] for n in models} - granted
    assert {"stg_bronze__customer_versions", "int_customer_versions"} <= ungranted
    assert all(n["config"]["persist_docs"] == {"relation": True, "columns": True} for n in models)


@pytest.mark.postgres
def test_a_build_granting_to_a_missing_role_fails_saying_how_to_make_it(warehouse):
    as_pipeline = {
        **warehouse.env,
        "PGUSER": warehouse.pipeline,
        "WAREHOUSE_READER_ROLE": f"{warehouse.reader}_missing",
    }
    done = run_dbt(warehouse.work / "missing", as_pipeline, "run", "--select", "dim_date")
    assert done.returncode == 1
    assert (
        f"the role {warehouse.reader}_missing that dbt_project.yml grants" in done.stdout
        and "python -m ingestion roles" in done.stdout
    ), done.stdout[-3000:]
