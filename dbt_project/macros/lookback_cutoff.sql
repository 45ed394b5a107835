{#- The load time an incremental model re-reads from: `lookback_days` (project var) before the
    newest `loaded_at_column` already in the model's table, so late versions replace their row.
    An empty table (a daily build that started on a day with no such rows: no shipments on the
    first day, no returns in the first week) has no newest load: the cutoff is then `far_past()`,
    so the run takes every row, as a first build does. Without it the cutoff would be null,
    `loaded_at > null` selects nothing, and the table would stay empty for good.
    Only meaningful inside `{% if is_incremental() %}`. -#}
{% macro lookback_cutoff(loaded_at_column='loaded_at') -%}
    (
        select
            coalesce(
                {{ dbt.dateadd('day', -1 * var('lookback_days') | int, 'max(' ~ loaded_at_column ~ ')') }},
                {{ far_past() }}
            )
        from {{ this }}
    )
{%- endmacro %}
