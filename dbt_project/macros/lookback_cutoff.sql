{#- The load time an incremental model re-reads from: `lookback_days` (project var) before the
    newest `loaded_at_column` already in the model's table, so late versions replace their row.
    An empty table (a daily build that started on a day with no such rows: no shipments on the
    first day, no returns in the first week) has no newest load: the cutoff is then `far_past()`,
    so the run takes every row, as a first build does. Without it the cutoff would be null,
    `loaded_at > null` selects nothing, and the table would stay empty for good.
    Only meaningful inside `{% if is_incremental() %}`. The value is looked up when the model
    runs and written into its SQL as a constant (`run_time_timestamp`). Each call is one query:
    a model sets it once (`{%- set cutoff = lookback_cutoff() %}` at the top of its first
    `is_incremental()` block) and writes `{{ cutoff }}` wherever it compares. -#}
{% macro lookback_cutoff(loaded_at_column='loaded_at') -%}
    {%- set cutoff -%}
        select
            coalesce(
                {{ dbt.dateadd('day', -1 * var('lookback_days') | int, 'max(' ~ loaded_at_column ~ ')') }},
                {{ far_past() }}
            )
        from {{ this }}
    {%- endset -%}
    {{ run_time_timestamp(cutoff) }}
{%- endmacro %}

{#- The one timestamp `select_sql` returns, as a constant: looked up with `run_query` when the
    model runs, so the engine compares each row with a literal and can skip whole blocks of rows
    by their min/max statistics (DuckDB's zone maps, Parquet row groups), which a scalar subquery
    in the same statement does not allow (measured at scale 10: a week of loads out of 10M order
    lines read 5-10x faster). When dbt only parses or compiles without a warehouse, the
    subquery itself. -#}
{% macro run_time_timestamp(select_sql) -%}
    {%- if execute -%}
        {%- set value = run_query(select_sql).columns[0].values()[0] -%}
        {%- if value is none -%}
            {{ exceptions.raise_compiler_error("no timestamp from: " ~ select_sql) }}
        {%- endif -%}
        cast('{{ value.isoformat(sep=" ") if value is not string else value }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        ({{ select_sql }})
    {%- endif -%}
{%- endmacro %}
