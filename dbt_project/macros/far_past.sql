{#- A timestamp before any load: the lookback cutoff of an empty incremental table (every row
    is newer), the counterpart of far_future(). -#}
{% macro far_past() -%}
    cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }})
{%- endmacro %}
