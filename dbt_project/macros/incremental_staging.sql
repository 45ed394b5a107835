{#- Staging of the large event tables: an incremental table, not a view, so bronze is deduplicated
    once per build, over the rows loaded since the last run, instead of again in every test and
    every model that reads it. The newest version of a key replaces its row (`delete+insert` on the
    model's unique_key): the same rows a full rebuild keeps, because a later load always ranks
    first (`loaded_at desc`). Spark (plain Parquet tables: no delete) keeps them as views.

    In a model:
        config(materialized=staging_materialization(), unique_key='order_id',
               incremental_strategy='delete+insert')
        select * from {{ source('bronze', 'orders') }}
        {{ new_loads_only(source('bronze', 'orders'), 'order_id') }}
-#}
{% macro staging_materialization() -%}
    {{ return(adapter.dispatch('staging_materialization', 'analytics_platform')()) }}
{%- endmacro %}

{% macro default__staging_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__staging_materialization() -%}
    {{ return('view') }}
{%- endmacro %}

{% macro databricks__staging_materialization() -%}
    {{ return(default__staging_materialization()) }}
{%- endmacro %}

{#- The filter on a bronze source (`relation`) that keeps every version of the keys loaded after
    the newest load already in the model, so they are ranked again together, exactly as a full
    rebuild ranks them (a late, older version must not replace a newer one). Nothing is filtered
    on a first run or a full refresh. -#}
{% macro new_loads_only(relation, key, source_loaded_at='_loaded_at', model_loaded_at='loaded_at') -%}
    {%- if is_incremental() %}
    {%- set newest -%}
        select coalesce(max({{ model_loaded_at }}), {{ far_past() }}) from {{ this }}
    {%- endset %}
    where {{ key }} in (
        select {{ key }}
        from {{ relation }}
        where {{ source_loaded_at }} > {{ run_time_timestamp(newest) }}
    )
    {%- endif %}
{%- endmacro %}

{#- The materialization of a model rebuilt by key (e.g. an SCD2 dim: every version of the keys
    with a new version): incremental (`delete+insert` on the key) where the engine deletes rows;
    a table rebuilt whole on Spark (plain Parquet tables: no delete). -#}
{% macro keyed_materialization() -%}
    {{ return(adapter.dispatch('keyed_materialization', 'analytics_platform')()) }}
{%- endmacro %}

{% macro default__keyed_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__keyed_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

{% macro databricks__keyed_materialization() -%}
    {{ return(default__keyed_materialization()) }}
{%- endmacro %}
