"""The warehouse's two roles on PostgreSQL: ``python -m ingestion roles``.

- the **reader** (``WAREHOUSE_READER_ROLE``, default ``analytics_reader``), for BI tools and
  analysts: it may connect, and dbt grants it SELECT on the marts, metrics and ML marts
  (``dbt_project/dbt_project.yml``, ``dbt_project/macros/grants.sql``), this setup on the
  ``quality`` result tables (``READER_RESULT_SCHEMAS``); bronze, ``_rejects``, staging and
  intermediate stay closed to it;
- the **pipeline** (``WAREHOUSE_PIPELINE_ROLE``, default ``pipeline``), which loading, dbt, the
  quality checks and ML run as (``PGUSER``): no superuser, no role or database creation; CONNECT,
  CREATE and TEMPORARY on the warehouse database, so it creates and owns its schemas
  (:data:`PIPELINE_SCHEMAS`). Schemas of that list made earlier by another role (a warehouse
  built as ``postgres``) are handed to it, with their tables and views.

A role logs in with the password in ``WAREHOUSE_READER_PASSWORD`` / ``WAREHOUSE_PIPELINE_PASSWORD``
and is NOLOGIN when that is unset. The password is sent as a SCRAM-SHA-256 verifier computed
client-side, never in clear. Run it as a superuser (the ``PG*`` variables of the admin) on the
warehouse database (``PGDATABASE``); it is idempotent: run it again after changing a password or
to put the roles' attributes back. Role names are checked and always quoted as identifiers.

Other engines: a DuckDB file has no roles (its file permissions decide), Spark runs locally;
on Snowflake and Databricks the same dbt grants apply to roles your administrator creates.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

#: Schemas the pipeline owns: bronze (``BRONZE_SCHEMA``) and the loader's audit and rejects, the
#: dbt layers (dbt_project.yml; ``analytics`` is the profile's default schema), the ML scores
#: (ml/) and the quality results (quality/results.py).
DBT_SCHEMAS = ("staging", "intermediate", "marts", "metrics", "analytics")
OTHER_SCHEMAS = ("ml", "quality")
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: what neither role may do, asserted again on every run
LIMITS = "nosuperuser nocreatedb nocreaterole noreplication nobypassrls inherit"
RELATION_KINDS = {
    "r": "table",
    "p": "table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
    "f": "foreign table",
}


class RolesError(RuntimeError):
    """The roles could not be set up; the message says why and what to do."""


@dataclass(frozen=True)
class RoleSettings:
    reader: str = "analytics_reader"
    pipeline: str = "pipeline"
    reader_password: str | None = field(default=None, repr=False)
    pipeline_password: str | None = field(default=None, repr=False)
    bronze_schema: str = "bronze"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> RoleSettings:
        env = os.environ if environ is None else environ
        settings = cls(
            reader=env.get("WAREHOUSE_READER_ROLE") or cls.reader,
            pipeline=env.get("WAREHOUSE_PIPELINE_ROLE") or cls.pipeline,
            reader_password=env.get("WAREHOUSE_READER_PASSWORD") or None,
            pipeline_password=env.get("WAREHOUSE_PIPELINE_PASSWORD") or None,
            bronze_schema=env.get("BRONZE_SCHEMA") or cls.bronze_schema,
        )
        for variable, name in (
            ("WAREHOUSE_READER_ROLE", settings.reader),
            ("WAREHOUSE_PIPELINE_ROLE", settings.pipeline),
        ):
            if not ROLE_NAME.fullmatch(name):
                raise ValueError(
                    f"{variable}={name!r} is not a role name this setup accepts: use lower-case "
                    "letters, digits and _ (at most 63, not starting with a digit), as dbt writes "
                    "the grantee unquoted"
                )
        if settings.reader == settings.pipeline:
            raise ValueError(
                f"WAREHOUSE_READER_ROLE and WAREHOUSE_PIPELINE_ROLE are both {settings.reader!r}: "
                "the reader must be a role of its own"
            )
        return settings

    @property
    def pipeline_schemas(self) -> tuple[str, ...]:
        return (self.bronze_schema, *DBT_SCHEMAS, *OTHER_SCHEMAS)


@dataclass
class RolesReport:
    database: str
    roles: dict[str, str] = field(default_factory=dict)  # role -> "created"/"updated", login
    handed_over: dict[str, int] = field(default_factory=dict)  # schema -> relations

    def summary(self) -> str:
        roles = ", ".join(f"{name} {what}" for name, what in self.roles.items())
        moved = (
            "; handed to the pipeline: "
            + ", ".join(f"{s} ({n} relations)" for s, n in self.handed_over.items())
            if self.handed_over
            else ""
        )
        return f"roles on database {self.database}: {roles}{moved}"


def setup_roles(conninfo: str, settings: RoleSettings) -> RolesReport:
    """Create or update both roles and the pipeline's ownership, in one transaction."""
    import psycopg

    try:
        conn = psycopg.connect(conninfo)
    except psycopg.OperationalError as exc:
        raise RolesError(
            f"cannot connect to PostgreSQL as the admin (PG* variables): {exc}"
        ) from exc
    database = conn.info.dbname
    try:
        with conn:
            _check_admin(conn)
            report = RolesReport(database)
            for role, password, kind in (
                (settings.reader, settings.reader_password, "WAREHOUSE_READER_PASSWORD"),
                (settings.pipeline, settings.pipeline_password, "WAREHOUSE_PIPELINE_PASSWORD"),
            ):
                report.roles[role] = _ensure_role(conn, role, password, kind)
            _grant_database(conn, database, settings)
            for schema in settings.pipeline_schemas:
                moved = _hand_over(conn, schema, settings.pipeline)
                if moved is not None:
                    report.handed_over[schema] = moved
            _grant_results(conn, settings)
    except psycopg.Error as exc:
        raise RolesError(f"setting up the roles on database {database!r} failed: {exc}") from exc
    return report


def _check_admin(conn) -> None:
    user, is_super = conn.execute(
        "select current_user, rolsuper from pg_roles where rolname = current_user"
    ).fetchone()
    if not is_super:
        raise RolesError(
            f"python -m ingestion roles must run as a superuser (PGUSER={user!r} is not): it "
            "creates roles, grants on the database and hands schemas over"
        )


def _ensure_role(conn, role: str, password: str | None, variable: str) -> str:
    from psycopg import sql

    exists = conn.execute("select rolsuper from pg_roles where rolname = %s", [role]).fetchone()
    if exists is not None and exists[0]:
        raise RolesError(
            f"role {role!r} is a superuser: the reader and the pipeline must be roles of their "
            "own (set WAREHOUSE_READER_ROLE / WAREHOUSE_PIPELINE_ROLE to other names)"
        )
    verb = "create" if exists is None else "alter"
    login = "login" if password else "nologin"
    conn.execute(sql.SQL(f"{verb} role {{}} with {LIMITS} {login}").format(sql.Identifier(role)))
    if password:
        verifier = conn.pgconn.encrypt_password(
            password.encode(), role.encode(), b"scram-sha-256"
        ).decode()
        conn.execute(
            sql.SQL("alter role {} password {}").format(sql.Identifier(role), sql.Literal(verifier))
        )
        access = "LOGIN"
    else:
        conn.execute(sql.SQL("alter role {} password null").format(sql.Identifier(role)))
        access = f"NOLOGIN (set {variable} to log in)"
    return f"{'created' if exists is None else 'updated'}, {access}"


def _grant_database(conn, database: str, settings: RoleSettings) -> None:
    from psycopg import sql

    db = sql.Identifier(database)
    conn.execute(
        sql.SQL("grant connect on database {} to {}").format(db, sql.Identifier(settings.reader))
    )
    conn.execute(
        sql.SQL("grant connect, create, temporary on database {} to {}").format(
            db, sql.Identifier(settings.pipeline)
        )
    )


#: Result tables the reader may read besides dbt's grants: the quality verdicts and anomaly scores
#: (names and numbers, personal values masked: quality/masking.py), for the metrics API's /alerts.
READER_RESULT_SCHEMAS = ("quality",)


def _grant_results(conn, settings: RoleSettings) -> None:
    """The reader reads the tables of ``READER_RESULT_SCHEMAS``, those there now and those the
    pipeline makes later (default privileges); the schema is made, owned by the pipeline, when
    missing, so the grant holds before the first quality run."""
    from psycopg import sql

    reader, pipeline = sql.Identifier(settings.reader), sql.Identifier(settings.pipeline)
    for name in READER_RESULT_SCHEMAS:
        schema = sql.Identifier(name)
        conn.execute(
            sql.SQL("create schema if not exists {} authorization {}").format(schema, pipeline)
        )
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(schema, reader))
        conn.execute(
            sql.SQL("grant select on all tables in schema {} to {}").format(schema, reader)
        )
        conn.execute(
            sql.SQL(
                "alter default privileges for role {} in schema {} grant select on tables to {}"
            ).format(pipeline, schema, reader)
        )


def _hand_over(conn, schema: str, pipeline: str) -> int | None:
    """Make ``pipeline`` the owner of ``schema`` and of every relation in it; None when the
    schema does not exist (the pipeline creates it when it first needs it) or is already its."""
    from psycopg import sql

    owner = conn.execute(
        "select pg_get_userbyid(nspowner) from pg_namespace where nspname = %s", [schema]
    ).fetchone()
    relations = conn.execute(
        "select c.relname, c.relkind from pg_class as c "
        "join pg_namespace as n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind = any(%s) "
        "and pg_get_userbyid(c.relowner) <> %s "
        # a sequence owned by a table column follows its table
        "and not (c.relkind = 'S' and exists (select 1 from pg_depend as d "
        "where d.objid = c.oid and d.deptype in ('a', 'i')))",
        [schema, list(RELATION_KINDS), pipeline],
    ).fetchall()
    if owner is None or (owner[0] == pipeline and not relations):
        return None
    conn.execute(
        sql.SQL("alter schema {} owner to {}").format(
            sql.Identifier(schema), sql.Identifier(pipeline)
        )
    )
    for name, kind in relations:
        conn.execute(
            sql.SQL(f"alter {RELATION_KINDS[kind]} {{}}.{{}} owner to {{}}").format(
                sql.Identifier(schema), sql.Identifier(name), sql.Identifier(pipeline)
            )
        )
    return len(relations)
