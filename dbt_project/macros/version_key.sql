{#- Surrogate key of one version of an SCD2 row: md5 of the natural key and the start of the
    version's validity, through dbt's cross-database `hash` and `concat`. -#}
{% macro version_key(key_column, valid_from_column) -%}
    {{ dbt.hash(dbt.concat([
        "cast(" ~ key_column ~ " as " ~ dbt.type_string() ~ ")",
        "'|'",
        "cast(" ~ valid_from_column ~ " as " ~ dbt.type_string() ~ ")",
    ])) }}
{%- endmacro %}
