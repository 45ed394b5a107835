{#- The (customer_id, activity_month) pairs of int_customer_order_months that a build can have
    changed since `cutoff`:
      - the pair of every order whose fct_orders row was rewritten after `cutoff` (fct_orders
        rewrites an order when a version, a line or a shipment of it is loaded; its loaded_at
        says when);
      - the month an order was moved out of: every pair named by any version in bronze of an
        order with a version loaded after `cutoff`, among versions naming more than one customer
        or more than one placing day (a correction that moved it; when the correction replaced
        the older versions' rows in bronze, see file_replaced_since).
    The first is read from fct_orders' newest rows (a week of loads); only the second reads
    every version of the orders loaded in the window. -#}
{% macro customer_months_with_changed_orders(cutoff) -%}
    select
        rewritten.customer_id,
        cast(date_trunc('month', rewritten.ordered_date) as date) as activity_month
    from {{ ref('fct_orders') }} as rewritten
    where rewritten.loaded_at > {{ cutoff }}
    union
    select
        versions.customer_id,
        cast(date_trunc('month', cast(versions.ordered_at as date)) as date) as activity_month
    from {{ source('bronze', 'orders') }} as versions
    where
        versions.customer_id is not null
        and versions.ordered_at is not null
        and versions.order_id in (
            select moved.order_id
            from {{ source('bronze', 'orders') }} as moved
            where moved.order_id in (
                    select loaded.order_id
                    from {{ source('bronze', 'orders') }} as loaded
                    where loaded._loaded_at > {{ cutoff }}
                )
            group by moved.order_id
            having
                count(distinct moved.customer_id) > 1
                or count(distinct cast(moved.ordered_at as date)) > 1
        )
{%- endmacro %}

{#- Whether a file of bronze table `table_name` was delivered again with other content and loaded
    after `cutoff`: the load audit holds a `loaded` row for its name after `cutoff` and an earlier
    one marked `superseded`. Its new rows replaced the earlier version's in bronze, so what those
    rows said before is no longer there to compare with. Looked up when the model runs; false
    while dbt only parses. -#}
{% macro file_replaced_since(table_name, cutoff) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set audit = source('bronze', table_name).incorporate(path={'identifier': '_load_audit'}) -%}
    {%- set replaced -%}
        select count(*)
        from {{ audit }} as replacing
        where
            replacing.table_name = '{{ table_name }}'
            and replacing.status = 'loaded'
            and replacing.finished_at > {{ cutoff }}
            and replacing.file_path in (
                select superseded.file_path
                from {{ audit }} as superseded
                where
                    superseded.table_name = '{{ table_name }}'
                    and superseded.status = 'superseded'
            )
    {%- endset -%}
    {{ return(run_query(replaced).columns[0].values()[0] > 0) }}
{%- endmacro %}
