{#- Layers land in schemas named after them (staging, marts, ...), not <target>_<layer>.

    `schema_suffix` (project var, empty by default) builds a second copy of every layer next to
    the first (`marts_full`, ...): tests/test_dbt_daily.py builds a full refresh that way, on
    the same bronze, to compare the daily incremental build with, row for row. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set suffix = var('schema_suffix', '') -%}
    {%- if not modules.re.fullmatch('(_[a-z0-9]+)*', suffix) -%}
        {{ exceptions.raise_compiler_error(
            "schema_suffix is '" ~ suffix ~ "': use '' (the default) or lower-case letters and"
            ~ " digits after an underscore, e.g. '_full'"
        ) }}
    {%- endif -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}{{ suffix }}
    {%- else -%}
        {{ custom_schema_name | trim }}{{ suffix }}
    {%- endif -%}
{%- endmacro %}
