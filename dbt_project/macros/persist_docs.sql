{#- Table and column comments (persist_docs, dbt_project.yml) with fewer catalog lookups and
    statements per model, on DuckDB and PostgreSQL. The comments written are the same.

    dbt's persist_docs (1.11) runs the relation's comment, then reads the relation's columns
    (an information-schema query), keeps the documented columns the relation has
    (validate_doc_columns, which warns about the others), and runs the column comments, which
    dbt-duckdb's and dbt-postgres' alter_column_comment build after reading the columns a
    second time. That is two catalog queries (each with its result table and log events) and
    two statements on every model of every build.

    Here:
    - alter_column_comment comments the columns it is given (the caller filtered them), as the
      Snowflake and BigQuery adapters' versions do: one catalog query fewer on every model;
    - a model whose contract is enforced has exactly its documented columns: dbt checked the
      model's columns against them before building, and an incremental model with a contract
      must fail on a schema change or append the new columns (dbt refuses 'ignore' and
      'sync_all_columns' there), so an existing table keeps every contract column. It needs no
      catalog query at all;
    - the relation's and the columns' comments are one statement.
    Every other model (views, tables without a contract) takes dbt's own path, minus the second
    lookup. tests/test_dbt_persist_docs.py checks the comments and counts the lookups. -#}

{% macro duckdb__persist_docs(relation, model, for_relation, for_columns) -%}
    {{ return(persist_docs_once(relation, model, for_relation, for_columns)) }}
{%- endmacro %}

{% macro postgres__persist_docs(relation, model, for_relation, for_columns) -%}
    {{ return(persist_docs_once(relation, model, for_relation, for_columns)) }}
{%- endmacro %}

{% macro persist_docs_once(relation, model, for_relation, for_columns) -%}
    {%- set columns = for_columns and config.persist_column_docs() and model.columns -%}
    {%- if columns and not columns_are_the_contract(model) -%}
        {{ return(default__persist_docs(relation, model, for_relation, for_columns)) }}
    {%- endif -%}
    {%- set statements = [] -%}
    {%- if for_relation and config.persist_relation_docs() and model.description -%}
        {%- do statements.append(alter_relation_comment(relation, model.description)) -%}
    {%- endif -%}
    {%- if columns -%}
        {%- do statements.append(alter_column_comment(relation, model.columns)) -%}
    {%- endif -%}
    {%- set sql = statements | join('\n') -%}
    {%- if sql | trim | length > 0 -%}
        {%- do run_query(sql) -%}
    {%- endif -%}
{%- endmacro %}

{#- Whether the relation `model` builds has exactly the model's documented columns. -#}
{% macro columns_are_the_contract(model) -%}
    {{ return((model.get('contract') or {}).get('enforced', false)) }}
{%- endmacro %}

{#- The adapters' own statements, with their own escaping (dollar-quoted comments on both). -#}
{% macro duckdb__alter_column_comment(relation, column_dict) -%}
    {{ comment_each_column(relation, column_dict, duckdb_escape_comment) }}
{%- endmacro %}

{% macro postgres__alter_column_comment(relation, column_dict) -%}
    {{ comment_each_column(relation, column_dict, postgres_escape_comment) }}
{%- endmacro %}

{% macro comment_each_column(relation, column_dict, escape) %}
  {% for column_name in column_dict %}
    {% set comment = column_dict[column_name]['description'] %}
    comment on column {{ relation }}.{{ adapter.quote(column_name) if column_dict[column_name]['quote'] else column_name }} is {{ escape(comment) }};
  {% endfor %}
{% endmacro %}
