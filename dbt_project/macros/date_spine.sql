{#- One row per calendar day from `start_date` to `end_date` (both included), as `date_day`.
    The bounds are SQL expressions (a scalar subquery is fine). Engines spell a series
    differently: generate_series on DuckDB and PostgreSQL, sequence + explode on Spark. -#}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'analytics_platform')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine(start_date, end_date) -%}
    select cast(series.day_start as date) as date_day
    from generate_series(
        cast(({{ start_date }}) as timestamp),
        cast(({{ end_date }}) as timestamp),
        interval '1 day'
    ) as series (day_start)
{%- endmacro %}

{% macro spark__date_spine(start_date, end_date) -%}
    select explode(
        sequence(to_date(({{ start_date }})), to_date(({{ end_date }})), interval 1 day)
    ) as date_day
{%- endmacro %}
