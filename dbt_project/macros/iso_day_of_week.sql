{#- ISO day of the week of a date: 1 = Monday ... 7 = Sunday. -#}
{% macro iso_day_of_week(date_expr) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'analytics_platform')(date_expr)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expr) -%}
    cast(extract(isodow from {{ date_expr }}) as integer)
{%- endmacro %}

{% macro spark__iso_day_of_week(date_expr) -%}
    cast(extract(dayofweek_iso from {{ date_expr }}) as integer)
{%- endmacro %}

{% macro snowflake__iso_day_of_week(date_expr) -%}
    cast(dayofweekiso({{ date_expr }}) as integer)
{%- endmacro %}
