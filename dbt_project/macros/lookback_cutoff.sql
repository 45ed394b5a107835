{#- The load time an incremental model re-reads from: `lookback_days` (project var) before the
    newest `loaded_at_column` already in the model's table, so late versions replace their row.
    Only meaningful inside `{% if is_incremental() %}`. -#}
{% macro lookback_cutoff(loaded_at_column='loaded_at') -%}
    (
        select {{ dbt.dateadd('day', -1 * var('lookback_days') | int, 'max(' ~ loaded_at_column ~ ')') }}
        from {{ this }}
    )
{%- endmacro %}
