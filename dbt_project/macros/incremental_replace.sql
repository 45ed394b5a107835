{#- How an incremental fact replaces the rows that changed since its last run.

    Default (DuckDB, PostgreSQL, Snowflake, Databricks): `delete+insert` on the model's
    unique_key; the run re-reads the rows loaded within `lookback_days` of the newest load
    already in the table (`lookback_cutoff`).

    Spark (plain Parquet tables: no delete, no merge, those need Delta/Iceberg/Hudi): the table
    is partitioned by a day column and `insert_overwrite` replaces whole partitions (dynamic
    partition overwrite). A partition overwritten with only its changed rows would lose the
    others, so the run re-reads every row of each day that holds a changed row. The day of a
    row must not change between its versions (true of ordered_at and shipped_at).

    In a model:
        config(
            materialized='incremental',
            unique_key='order_line_id',
            incremental_strategy=incremental_replace_strategy(),
            partition_by=incremental_replace_partitions('ordered_date'),
        )
        ...
        where {{ incremental_changed_rows('lines', 'loaded_at', 'cast(ordered_at as date)') }}
-#}

{#- The incremental_strategy config. -#}
{% macro incremental_replace_strategy() -%}
    {{ return(adapter.dispatch('incremental_replace_strategy', 'analytics_platform')()) }}
{%- endmacro %}

{% macro default__incremental_replace_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro databricks__incremental_replace_strategy() -%}
    {{ return(default__incremental_replace_strategy()) }}
{%- endmacro %}

{% macro spark__incremental_replace_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{#- The partition_by config: `day_column` (a column of the model) on Spark, none elsewhere. -#}
{% macro incremental_replace_partitions(day_column) -%}
    {{ return(adapter.dispatch('incremental_replace_partitions', 'analytics_platform')(day_column)) }}
{%- endmacro %}

{% macro default__incremental_replace_partitions(day_column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro databricks__incremental_replace_partitions(day_column) -%}
    {{ return(default__incremental_replace_partitions(day_column)) }}
{%- endmacro %}

{% macro spark__incremental_replace_partitions(day_column) -%}
    {{ return([day_column]) }}
{%- endmacro %}

{#- The condition on `relation` (a CTE of the model) that picks the rows an incremental run
    re-reads: `loaded_at_column` is its load time, `day_expr` the expression of the partition
    day, `model_loaded_at` the load-time column of the model's table (see lookback_cutoff).
    Use inside `{% if is_incremental() %}`. -#}
{% macro incremental_changed_rows(
    relation, loaded_at_column, day_expr, model_loaded_at='loaded_at'
) -%}
    {{ return(adapter.dispatch('incremental_changed_rows', 'analytics_platform')(
        relation, loaded_at_column, day_expr, model_loaded_at
    )) }}
{%- endmacro %}

{% macro default__incremental_changed_rows(
    relation, loaded_at_column, day_expr, model_loaded_at
) -%}
    {{ loaded_at_column }} > {{ lookback_cutoff(model_loaded_at) }}
{%- endmacro %}

{% macro databricks__incremental_changed_rows(
    relation, loaded_at_column, day_expr, model_loaded_at
) -%}
    {{ default__incremental_changed_rows(relation, loaded_at_column, day_expr, model_loaded_at) }}
{%- endmacro %}

{% macro spark__incremental_changed_rows(relation, loaded_at_column, day_expr, model_loaded_at) -%}
    {{ day_expr }} in (
        select {{ day_expr }}
        from {{ relation }}
        where {{ default__incremental_changed_rows(
            relation, loaded_at_column, day_expr, model_loaded_at
        ) }}
    )
{%- endmacro %}

{#- The same for a model whose changed rows are known by key (`changed_keys`, a CTE with a
    `key` column, e.g. the orders touched by a late line or shipment): rows of `relation` with
    such a key; on Spark every row of the days (`day_expr`) holding one. -#}
{% macro incremental_changed_keys(relation, key, changed_keys, day_expr) -%}
    {{ return(adapter.dispatch('incremental_changed_keys', 'analytics_platform')(
        relation, key, changed_keys, day_expr
    )) }}
{%- endmacro %}

{% macro default__incremental_changed_keys(relation, key, changed_keys, day_expr) -%}
    {{ key }} in (select {{ key }} from {{ changed_keys }})
{%- endmacro %}

{% macro databricks__incremental_changed_keys(relation, key, changed_keys, day_expr) -%}
    {{ default__incremental_changed_keys(relation, key, changed_keys, day_expr) }}
{%- endmacro %}

{% macro spark__incremental_changed_keys(relation, key, changed_keys, day_expr) -%}
    {{ day_expr }} in (
        select {{ day_expr }}
        from {{ relation }}
        where {{ default__incremental_changed_keys(relation, key, changed_keys, day_expr) }}
    )
{%- endmacro %}
