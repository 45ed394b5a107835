{#- A one-way hash of personal data (emails, phones, names, street), so no layer after staging
    holds it in clear. Lower-cased and trimmed first, so the same email always hashes the same. -#}
{% macro hash_pii(column) -%}
    {{ return(adapter.dispatch('hash_pii', 'analytics_platform')(column)) }}
{%- endmacro %}

{% macro default__hash_pii(column) -%}
    md5(lower(trim(cast({{ column }} as {{ dbt.type_string() }}))))
{%- endmacro %}

{% macro duckdb__hash_pii(column) -%}
    sha256(lower(trim(cast({{ column }} as varchar))))
{%- endmacro %}

{% macro postgres__hash_pii(column) -%}
    encode(sha256(convert_to(lower(trim(cast({{ column }} as text))), 'UTF8')), 'hex')
{%- endmacro %}

{% macro spark__hash_pii(column) -%}
    sha2(lower(trim(cast({{ column }} as string))), 256)
{%- endmacro %}

{% macro snowflake__hash_pii(column) -%}
    sha2(lower(trim(cast({{ column }} as varchar))), 256)
{%- endmacro %}
