{#- Fails for every key of a versioned model whose versions do not hold exactly one current row
    (`current_column` true): none means the key vanished, two mean overlapping history. -#}
{% test exactly_one_current_row(model, key_columns, current_column) %}

{%- set columns_csv = key_columns | join(', ') %}

select
    {{ columns_csv }},
    sum(case when {{ current_column }} then 1 else 0 end) as n_current
from {{ model }}
group by {{ columns_csv }}
having sum(case when {{ current_column }} then 1 else 0 end) <> 1

{% endtest %}
