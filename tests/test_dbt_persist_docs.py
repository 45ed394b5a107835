"""The project's persist_docs (dbt_project/macros/persist_docs.sql) writes the same table and
column comments as dbt's own path, with fewer catalog lookups, on DuckDB and PostgreSQL, on a
first build and on the incremental run after it.

A tiny project is built twice per engine, once with the project's macro file and once without
(dbt's and the adapter's own macros), and twice each (a first build, then the incremental run):
the comments in the catalog must be equal, and the lookups (``select column_name, ...``, dbt's
get_columns_in_relation on both adapters) must be exactly the ones the macro saves: two per
model that has its contract as its columns, one per other model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import PG_ENV, _pg_kwargs
from dbt_support import DBT

ROOT = Path(__file__).resolve().parent.parent
MACRO = ROOT / "dbt_project" / "macros" / "persist_docs.sql"

CONTRACT = "config: {contract: {enforced: true}}"
COLUMNS = """
    columns:
      - name: id
        data_type: integer
        description: "The key; it's 'quoted' and $1 costs"
      - name: name
        data_type: text
        description: A name
"""
FILES = {
    "dbt_project.yml": """
name: tiny_docs
version: "1.0"
config-version: 2
profile: tiny_docs
models:
  tiny_docs:
    +persist_docs: {relation: true, columns: true}
""",
    "models/contracted_table.sql": (
        "{{ config(materialized='table') }}\nselect cast(1 as integer) as id, "
        "cast('a' as text) as name"
    ),
    "models/contracted_incremental.sql": (
        "{{ config(materialized='incremental', unique_key='id', on_schema_change='fail') }}\n"
        "select cast(1 as integer) as id, cast('a' as text) as name"
    ),
    "models/appended_incremental.sql": (
        "{{ config(materialized='incremental', unique_key='id', "
        "on_schema_change='append_new_columns') }}\n"
        "select cast(1 as integer) as id, cast('a' as text) as name"
    ),
    "models/plain_table.sql": (
        "{{ config(materialized='table') }}\nselect cast(1 as integer) as id, "
        "cast('a' as text) as name"
    ),
    # documents a column the view does not have: dbt warns and comments the others
    "models/plain_view.sql": "{{ config(materialized='view') }}\nselect 1 as id",
    "models/_models.yml": f"""
models:
  - name: contracted_table
    description: A contracted table
    {CONTRACT}{COLUMNS}
  - name: contracted_incremental
    description: A contracted incremental table
    {CONTRACT}{COLUMNS}
  - name: appended_incremental
    description: An incremental table that appends new columns
    {CONTRACT}{COLUMNS}
  - name: plain_table
    description: A table without a contract{COLUMNS}
  - name: plain_view
    description: A view without a contract
    columns:
      - name: id
        description: The view's key
      - name: gone
        description: Not in the view
""",
}
MODELS = ("contracted_table", "contracted_incremental", "appended_incremental", "plain_table")
# lookups the macro saves per build: two per model whose columns are its contract, one per other
SAVED = 2 * 3 + 1 * 2


def _profile(engine: str, where: Path, schema: str) -> str:
    if engine == "duckdb":
        output = f"{{type: duckdb, path: '{where / 'tiny.duckdb'}', schema: {schema}, threads: 1}}"
    else:
        output = (
            f"{{type: postgres, host: '{PG_ENV['PGHOST']}', port: {PG_ENV['PGPORT']}, "
            f"user: '{PG_ENV['PGUSER']}', password: '', dbname: '{PG_ENV['PGDATABASE']}', "
            f"schema: {schema}, threads: 1}}"
        )
    return f"tiny_docs:\n  target: dev\n  outputs:\n    dev: {output}\n"


def _lookups(log: Path) -> int:
    """The catalog lookups (get_columns_in_relation) in a dbt JSON log."""
    count = 0
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event["info"]["name"] != "SQLQuery":
            continue
        sql = re.sub(r"/\*.*?\*/", "", event["data"]["sql"], flags=re.S)
        count += " ".join(sql.split()).lower().startswith("select column_name,")
    return count


def _build(project: Path, run: str) -> tuple[int, str]:
    logs = project / "logs" / run
    places = ["--project-dir", str(project), "--profiles-dir", str(project)]
    places += ["--target-path", str(project / "target"), "--log-path", str(logs)]
    done = subprocess.run(
        [str(DBT), "build", *places, "--log-format-file", "json", "--no-version-check"],
        cwd=project,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return _lookups(logs / "dbt.log"), done.stdout


def _comments(engine: str, where: Path, schema: str) -> dict[str, str | None]:
    """Every relation's and column's comment in ``schema``."""
    if engine == "duckdb":
        import duckdb

        with duckdb.connect(str(where / "tiny.duckdb"), read_only=True) as conn:
            rows = conn.execute(
                "select table_name, null, comment from duckdb_tables() where schema_name = $1 "
                "union all select view_name, null, comment from duckdb_views() "
                "where schema_name = $1 "
                "union all select table_name, column_name, comment from duckdb_columns() "
                "where schema_name = $1",
                [schema],
            ).fetchall()
    else:
        import psycopg

        with psycopg.connect(autocommit=True, **_pg_kwargs()) as conn:
            rows = conn.execute(
                "select c.relname, a.attname, "
                "coalesce(col_description(c.oid, a.attnum), obj_description(c.oid)) "
                "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 "
                "where n.nspname = %s and c.relkind in ('r', 'v') "
                "union all select c.relname, null, obj_description(c.oid) from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = %s and c.relkind in ('r', 'v')",
                [schema, schema],
            ).fetchall()
    return {f"{t}.{c}" if c else t: comment for t, c, comment in rows}


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_same_comments_with_fewer_catalog_lookups(engine, tmp_path):
    runs: dict[str, dict] = {}
    schemas = []
    try:
        for variant in ("dbt", "project"):
            project = tmp_path / variant
            schema = f"docs_{variant}_{uuid.uuid4().hex[:8]}"
            schemas.append(schema)
            for name, text in FILES.items():
                (project / name).parent.mkdir(parents=True, exist_ok=True)
                (project / name).write_text(text.lstrip())
            (project / "profiles.yml").write_text(_profile(engine, project, schema))
            if variant == "project":
                (project / "macros").mkdir()
                shutil.copy(MACRO, project / "macros" / MACRO.name)
            first, output = _build(project, "first")
            again, _ = _build(project, "again")  # the incremental models' incremental run
            runs[variant] = {
                "lookups": (first, again),
                "comments": _comments(engine, project, schema),
                "output": output,
            }
    finally:
        if engine == "postgres":
            import psycopg
            from psycopg import sql

            with psycopg.connect(autocommit=True, **_pg_kwargs()) as conn:
                for schema in schemas:
                    drop = sql.SQL("drop schema if exists {} cascade")
                    conn.execute(drop.format(sql.Identifier(schema)))

    dbt, project = runs["dbt"], runs["project"]
    # the same comments, and they are the documented ones
    assert project["comments"] == dbt["comments"]
    comments = project["comments"]
    for model in MODELS:
        assert comments[f"{model}.id"] == "The key; it's 'quoted' and $1 costs", model
        assert comments[f"{model}.name"] == "A name", model
    assert comments["contracted_table"] == "A contracted table"
    assert comments["plain_view"] == "A view without a contract"
    assert comments["plain_view.id"] == "The view's key"
    assert "plain_view.gone" not in comments
    # dbt still warns about the documented column the view lacks
    assert "gone" in project["output"]
    # the lookups saved, on the first build and on the incremental run
    saved = [d - p for d, p in zip(dbt["lookups"], project["lookups"], strict=True)]
    assert saved == [SAVED, SAVED], (dbt["lookups"], project["lookups"])
