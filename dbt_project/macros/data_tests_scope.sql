{#- How much of the big event data the heavy reconciliation tests re-check.

    `data_tests_scope` (project var, else the environment variable DBT_DATA_TESTS_SCOPE):
    `recent` (the default, for the daily build) checks the rows and keys loaded within
    `lookback_days` of the newest load, every version and related row of those keys included, so
    whatever the run rewrote; `all` checks every row. A `--full-refresh` always checks every row.
    A first build on an empty warehouse should say `all` (the benchmark's full build does).

    In a test:
        {% if data_tests_check_everything() %} ... {% else %} ... {% endif %}
        where _loaded_at >= {{ recent_loads_cutoff(source('bronze', 'orders')) }}
-#}
{% macro data_tests_check_everything() -%}
    {%- set scope = var('data_tests_scope', env_var('DBT_DATA_TESTS_SCOPE', 'recent')) -%}
    {%- if scope not in ('recent', 'all') -%}
        {{ exceptions.raise_compiler_error(
            "data_tests_scope is '" ~ scope ~ "' (var or DBT_DATA_TESTS_SCOPE): use 'recent'"
            ~ " (the default) or 'all'"
        ) }}
    {%- endif -%}
    {{ return(flags.FULL_REFRESH or scope == 'all') }}
{%- endmacro %}

{#- The load time the `recent` scope checks from: `lookback_days` before the newest
    `loaded_at_column` of `relation`. -#}
{% macro recent_loads_cutoff(relation, loaded_at_column='_loaded_at') -%}
    (
        select {{ dbt.dateadd('day', -1 * var('lookback_days') | int, 'max(' ~ loaded_at_column ~ ')') }}
        from {{ relation }}
    )
{%- endmacro %}

{#- dbt's hook for the `where` config of generic tests, extended with the `recent` scope: a
    generic test on an incremental model (its documented `loaded_at` column drives the window)
    checks the rows loaded within `lookback_days` of the model's newest loaded_at (for `unique`,
    and `unique_combination_of_columns` where the model allows it: those rows' keys, counted over
    the whole table, so a new row duplicating an old one is caught). Tests on every other model, and every test in the `all` scope, see every row. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set window_column = recent_window_column() -%}
    {%- if window_column -%}
        {%- set cutoff = recent_loads_cutoff(relation, window_column) -%}
        {%- set key = model.get('column_name') -%}
        {%- set recent -%}
            {%- if model.test_metadata.name == 'unique' and key -%}
                {{ key }} in (select {{ key }} from {{ relation }} where {{ window_column }} >= {{ cutoff }})
            {%- elif model.test_metadata.name == 'unique_combination_of_columns' -%}
                {%- set columns_csv = model.test_metadata.kwargs.combination_of_columns | join(', ') -%}
                ({{ columns_csv }}) in (select {{ columns_csv }} from {{ relation }} where {{ window_column }} >= {{ cutoff }})
            {%- else -%}
                {{ window_column }} >= {{ cutoff }}
            {%- endif -%}
        {%- endset -%}
        {%- set where = '(' ~ recent ~ ')' ~ (' and (' ~ where ~ ')' if where else '') -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{#- The load-time column a generic test windows on in the `recent` scope, or none: `loaded_at`
    when the tested model is incremental and documents that column, the scope is `recent` and the
    test is not exactly_one_current_row nor a combination-of-columns key test (both need every
    row of a key, and an old version keeps its old loaded_at when its key is re-ranked). A model
    whose runs rewrite a key's rows whole, each with a load time in the window, says so with
    `meta: {data_tests_window_keys: true}`: its combination-of-columns key test then counts,
    over the whole table, the rows of the combinations loaded in the window. -#}
{% macro recent_window_column() -%}
    {%- if not execute or data_tests_check_everything() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set test_name = (model.get('test_metadata') or {}).get('name') -%}
    {%- if test_name in (none, 'exactly_one_current_row') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set tested = model.get('attached_node') or (model.depends_on.nodes | first) -%}
    {%- set node = graph.nodes.get(tested) -%}
    {%- if not node or node.config.materialized != 'incremental' or 'loaded_at' not in node.columns -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if test_name == 'unique_combination_of_columns'
        and not (node.config.get('meta') or {}).get('data_tests_window_keys') -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return('loaded_at') }}
{%- endmacro %}
