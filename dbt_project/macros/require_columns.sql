{#- Stop an incremental run on a table an earlier version of the project built without a column
    the model now needs (e.g. dim_customer before its `loaded_at`), with the command that
    rebuilds it, instead of a database error from the first query that names the column. Use
    inside `{% if is_incremental() %}`; one catalog lookup when the model runs. -#}
{% macro require_columns(relation, column_names) -%}
    {%- if execute -%}
        {%- set present = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
        {%- set missing = [] -%}
        {%- for name in column_names if name | lower not in present -%}
            {%- do missing.append(name) -%}
        {%- endfor -%}
        {%- if missing -%}
            {{ exceptions.raise_compiler_error(
                relation ~ " has no column " ~ missing | join(", ") ~ ": an earlier version of the"
                ~ " project built it. Rebuild it once: dbt build --full-refresh --select "
                ~ model.name
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
