{#- Fails for every row whose `column_name` lies outside [min_value, max_value] (an omitted bound
    is open; `min_inclusive` / `max_inclusive` false makes that bound strict). A null passes: the
    not-null rules are tested apart. Rendered on the bronze sources from the value rules of the
    table contracts (ingestion/contracts.py, `range`) by `python -m ingestion dbt-sources --write`;
    plain comparisons, so it runs the same on every warehouse engine. -#}
{% test value_in_range(model, column_name, min_value=none, max_value=none, min_inclusive=true, max_inclusive=true) %}

{%- if min_value is none and max_value is none -%}
    {{ exceptions.raise_compiler_error("value_in_range on " ~ column_name ~ " needs a min_value or a max_value") }}
{%- endif -%}

{%- set outside = [] -%}
{%- if min_value is not none -%}
    {%- do outside.append(column_name ~ (' < ' if min_inclusive else ' <= ') ~ min_value) -%}
{%- endif -%}
{%- if max_value is not none -%}
    {%- do outside.append(column_name ~ (' > ' if max_inclusive else ' >= ') ~ max_value) -%}
{%- endif %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
    and ({{ outside | join(' or ') }})

{% endtest %}
