{#- Read access for BI: dbt_project.yml grants SELECT on the marts, metrics and ML marts (and
    nothing else) to the reader role, WAREHOUSE_READER_ROLE (default analytics_reader). dbt applies
    those grants to each relation it builds; the reader also needs to enter the schemas, which
    grant_reader_schema_usage does after every run (on-run-end), for the schemas of the relations
    that run built with grants.

    Engines without roles skip both: a DuckDB file has no users (access is the file's
    permissions), and the local Spark session has no authorisation (its SHOW GRANTS fails), so
    their apply_grants below do nothing. PostgreSQL, Snowflake and Databricks apply them. -#}

{% macro duckdb__apply_grants(relation, grant_config, should_revoke=True) -%}
    {#- no roles in a DuckDB file (dbt-duckdb would warn on every build) -#}
{%- endmacro %}

{% macro spark__apply_grants(relation, grant_config, should_revoke=True) -%}
    {#- no authorisation in a local Spark session -#}
{%- endmacro %}

{#- PostgreSQL: a grant to a role that does not exist fails with the server's terse message;
    say which role, and how to make it, before dbt tries -#}
{% macro postgres__apply_grants(relation, grant_config, should_revoke=True) -%}
    {%- for grantees in (grant_config or {}).values() -%}
        {%- for grantee in grantees -%}
            {%- set found = run_query("select 1 from pg_roles where rolname = " ~ dbt.string_literal(grantee)) -%}
            {%- if found | length == 0 -%}
                {{ exceptions.raise_compiler_error(
                    "the role " ~ grantee ~ " that dbt_project.yml grants " ~ relation ~ " to does not "
                    ~ "exist: create the reader and pipeline roles with `python -m ingestion roles` "
                    ~ "(as a superuser), or set WAREHOUSE_READER_ROLE to an existing role") }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(default__apply_grants(relation, grant_config, should_revoke)) }}
{%- endmacro %}

{#- Databricks falls back to spark__ macros: it has Unity Catalog grants, so dbt's own logic -#}
{% macro databricks__apply_grants(relation, grant_config, should_revoke=True) -%}
    {{ return(default__apply_grants(relation, grant_config, should_revoke)) }}
{%- endmacro %}


{#- USAGE on each schema where this run built a relation with a select grant, for its grantees.
    `results` is dbt's on-run-end context variable. -#}
{% macro grant_reader_schema_usage(results) -%}
    {%- if execute -%}
        {%- set schemas = {} -%}
        {%- for result in results if result.status == 'success' and result.node.config.get('grants') -%}
            {%- set key = (result.node.database, result.node.schema) -%}
            {%- set grantees = schemas.setdefault(key, []) -%}
            {%- for grantee in result.node.config.grants.get('select', []) if grantee not in grantees -%}
                {%- do grantees.append(grantee) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for key, grantees in schemas.items() -%}
            {%- for grantee in grantees -%}
                {%- for statement in adapter.dispatch('schema_usage_grants', 'analytics_platform')(key[0], key[1], grantee) -%}
                    {%- do run_query(statement) -%}
                {%- endfor -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- The statements that let `grantee` see into `database`.`schema`; none without roles -#}
{% macro default__schema_usage_grants(database, schema, grantee) -%}
    {{ return([]) }}
{%- endmacro %}

{% macro postgres__schema_usage_grants(database, schema, grantee) -%}
    {{ return(['grant usage on schema ' ~ adapter.quote(schema) ~ ' to ' ~ adapter.quote(grantee)]) }}
{%- endmacro %}

{#- unquoted, as dbt writes Snowflake grants and relations (upper-cased by Snowflake) -#}
{% macro snowflake__schema_usage_grants(database, schema, grantee) -%}
    {{ return([
        'grant usage on database ' ~ database ~ ' to role ' ~ grantee,
        'grant usage on schema ' ~ database ~ '.' ~ schema ~ ' to role ' ~ grantee,
    ]) }}
{%- endmacro %}

{% macro databricks__schema_usage_grants(database, schema, grantee) -%}
    {{ return([
        'grant use catalog on catalog ' ~ adapter.quote(database) ~ ' to ' ~ adapter.quote(grantee),
        'grant use schema on schema ' ~ adapter.quote(database) ~ '.' ~ adapter.quote(schema)
            ~ ' to ' ~ adapter.quote(grantee),
    ]) }}
{%- endmacro %}
