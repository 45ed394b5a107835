{#- Source freshness of a bronze table (the `loaded_at_query` of source `bronze`, rendered by
    `dbt source freshness` with `this` = the source table): when its newest landing file was
    loaded, read from the load audit (`bronze._load_audit`, status `loaded`), not from its newest
    row. A delivered file with no rows (a header-only products file on a day without price
    changes) is fresh; a table whose files stopped arriving goes stale. A re-delivered identical
    file is `skipped` in the audit: it brings nothing new and does not count. -#}
{% macro newest_file_loaded(source_relation, table_name) -%}
    select max(started_at)
    from {{ source_relation.incorporate(path={'identifier': '_load_audit'}) }}
    where table_name = '{{ table_name }}' and status = 'loaded'
{%- endmacro %}
