{#- Read access for BI: dbt_project.yml grants SELECT on the marts, metrics and ML marts (and
    nothing else) to the reader role, WAREHOUSE_READER_ROLE (default analytics_reader). dbt applies
    those grants to each relation it builds; with them the grantee also gets USAGE on the
    relation's schema (and catalog/database where the engine needs it), without which a SELECT
    grant cannot be used.

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
    {%- for grantee in grantees_of(grant_config) -%}
        {%- set found = run_query("select 1 from pg_roles where rolname = " ~ dbt.string_literal(grantee)) -%}
        {%- if found | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "the role " ~ grantee ~ " that dbt_project.yml grants " ~ relation ~ " to does not "
                ~ "exist: create the reader and pipeline roles with `python -m ingestion roles` "
                ~ "(as a superuser), or set WAREHOUSE_READER_ROLE to an existing role") }}
        {%- endif -%}
    {%- endfor -%}
    {%- do grant_schema_usage(relation, grant_config) -%}
    {{ return(default__apply_grants(relation, grant_config, should_revoke)) }}
{%- endmacro %}

{% macro snowflake__apply_grants(relation, grant_config, should_revoke=True) -%}
    {%- do grant_schema_usage(relation, grant_config) -%}
    {{ return(default__apply_grants(relation, grant_config, should_revoke)) }}
{%- endmacro %}

{#- Databricks would fall back to spark__apply_grants: it has Unity Catalog grants -#}
{% macro databricks__apply_grants(relation, grant_config, should_revoke=True) -%}
    {%- do grant_schema_usage(relation, grant_config) -%}
    {{ return(default__apply_grants(relation, grant_config, should_revoke)) }}
{%- endmacro %}


{#- every grantee of a grants config, once -#}
{% macro grantees_of(grant_config) -%}
    {%- set grantees = [] -%}
    {%- for names in (grant_config or {}).values() -%}
        {%- for name in names if name not in grantees -%}
            {%- do grantees.append(name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(grantees) }}
{%- endmacro %}

{#- USAGE on the schema of `relation` for every grantee of its grants -#}
{% macro grant_schema_usage(relation, grant_config) -%}
    {%- for grantee in grantees_of(grant_config) -%}
        {%- for statement in adapter.dispatch('schema_usage_grants', 'analytics_platform')(relation.database, relation.schema, grantee) -%}
            {%- do run_query(statement) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endmacro %}

{#- The statements that let `grantee` see into `database`.`schema`; none without roles -#}
{% macro default__schema_usage_grants(database, schema, grantee) -%}
    {{ return([]) }}
{%- endmacro %}

{#- dbt's threads build several marts at once, and two GRANTs on one schema at the same moment
    fail ("tuple concurrently updated"): one at a time (an advisory lock until commit), and only
    when the grantee lacks it -#}
{% macro postgres__schema_usage_grants(database, schema, grantee) -%}
    {%- set statement -%}
        do $grant$
        begin
            perform pg_advisory_xact_lock(hashtext('analytics_platform.schema_usage_grants'));
            if not has_schema_privilege({{ dbt.string_literal(grantee) }}, {{ dbt.string_literal(schema) }}, 'USAGE') then
                execute format('grant usage on schema %I to %I', {{ dbt.string_literal(schema) }}, {{ dbt.string_literal(grantee) }});
            end if;
        end
        $grant$
    {%- endset -%}
    {{ return([statement]) }}
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
