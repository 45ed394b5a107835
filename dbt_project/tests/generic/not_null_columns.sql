{#- Fails for every column of `column_names` that holds a null, with how many rows: the
    not_null checks of a model in one test and one scan of the model, instead of one test (and one
    query, one node of dbt's own overhead) per column. A column whose not_null only warns (a
    known, upstream-recorded gap) keeps its own `not_null` test with `severity: warn`.
    In the `recent` scope (dbt_project/macros/data_tests_scope.sql) an incremental model is checked
    on the rows loaded within `lookback_days`, as its other generic tests. -#}
{% test not_null_columns(model, column_names) %}

with

null_counts as (

    select
        {%- for column in column_names %}
            sum(case when {{ column }} is null then 1 else 0 end) as nulls_{{ loop.index }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }}

)

{% for column in column_names %}
    select
        '{{ column }}' as column_name,
        nulls_{{ loop.index }} as null_rows
    from null_counts
    where nulls_{{ loop.index }} > 0
    {% if not loop.last %}union all{% endif %}
{% endfor %}

{% endtest %}
