{#- The SCD2 validity window of each version of `key`: [valid_from, valid_to), valid_to the next
    version's `changed_at` (null for the current one), is_current for the newest version. Written
    once for every versioned entity (models/intermediate/int_*_versions.sql). -#}
{% macro validity_window(key, changed_at='updated_at') -%}
    {{ changed_at }} as valid_from,
    lead({{ changed_at }}) over (partition by {{ key }} order by {{ changed_at }}) as valid_to,
    lead({{ changed_at }}) over (partition by {{ key }} order by {{ changed_at }}) is null
        as is_current
{%- endmacro %}
