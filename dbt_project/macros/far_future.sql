{#- The valid_to of a current SCD2 version: a far-future timestamp instead of null, so a
    point-in-time join is a plain `valid_from <= t and t < valid_to`. -#}
{% macro far_future() -%}
    cast('9999-12-31 00:00:00' as {{ dbt.type_timestamp() }})
{%- endmacro %}
