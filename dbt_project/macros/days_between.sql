{#- Calendar days from `start_expr` to `end_expr` (date boundaries crossed, negative when
    end is earlier), through dbt's cross-database `datediff`. -#}
{% macro days_between(start_expr, end_expr) -%}
    {{ dbt.datediff(start_expr, end_expr, 'day') }}
{%- endmacro %}
