-- Developer notes (moved from the YAML description, which is written for BI users). Joined to
-- the product and customer versions valid when the order was placed (SCD2 point-in-time join).
-- Incremental (delete+insert on order_line_id): each run re-reads the rows loaded in the last
-- `lookback_days` days before the newest loaded_at already in the table, so a late version
-- replaces its row; a full refresh gives the same table (tests/test_dbt_marts.py proves it).
-- Missing parents: a line whose order has no usable version (its row quarantined in
-- bronze._rejects or left out by staging) is kept, unattributed, with ordered_date the day of
-- its landing file (which carries that day's events) and the product version valid on that day;
-- the not_null test on ordered_at and the relationships test to fct_orders warn. fct_orders and
-- the customer metrics leave such lines out; metrics_sales_performance and
-- metrics_product_performance count them. A line whose customer has no usable version at
-- ordered_at keeps customer_version_key null; its not_null test warns rather than fail the
-- build, since the cause is already recorded upstream. Once the customer is re-delivered, a full
-- refresh (or a run that re-reads the line within lookback_days) fills the key. loaded_at (the
-- latest load time of the line or of its order's latest version) drives the incremental window.

{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy=incremental_replace_strategy(),
        partition_by=incremental_replace_partitions('ordered_date'),
        on_schema_change='fail',
    )
}}

with

order_lines as (

    select * from {{ ref('stg_bronze__order_lines') }}

),

orders as (

    select * from {{ ref('stg_bronze__orders') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

{% if is_incremental() %}
    {%- set cutoff = lookback_cutoff() %}
    -- from the relation, not the CTE above: a CTE read twice is materialized whole by DuckDB
    recent_orders as (

        select order_id from {{ ref('stg_bronze__orders') }}
        where loaded_at > {{ cutoff }}

    ),
{% endif %}

-- exactly the lines `changed` keeps (loaded, or their order loaded, within the window), picked
-- in a step of their own before the join, so that not every line is joined to its order (with
-- the filter written after the join, DuckDB joined all 10M lines at scale 10 first: 3x the
-- time); insert_overwrite (Spark) rewrites whole days, so it needs them all
picked_lines as (

    select * from order_lines
    {% if is_incremental() and incremental_replace_strategy() == 'delete+insert' %}
        where
            loaded_at > {{ cutoff }}
            or order_id in (select recent_orders.order_id from recent_orders)
    {% endif %}

),

lines_with_orders as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        orders.customer_id,
        order_lines.product_id,
        orders.ordered_at,
        orders.channel,
        orders.status as order_status,
        -- when the line is attributed to: its order's time, or (its order row quarantined or
        -- left out by staging) the day of the line's landing file, which carries that day's
        -- events (tests/business_rules/assert_file_carries_its_day_events.sql)
        coalesce(
            orders.ordered_at,
            cast(
                cast(left(right(order_lines.source_file, 14), 10) as date)
                as {{ dbt.type_timestamp() }}
            )
        ) as attributed_at,
        orders.order_id is not null as is_attributed,
        order_lines.quantity,
        order_lines.unit_price,
        order_lines.discount_amount,
        -- a line changes when its order gets a new version (status)
        case
            when orders.loaded_at > order_lines.loaded_at then orders.loaded_at
            else order_lines.loaded_at
        end as loaded_at

    from picked_lines as order_lines
    -- a line whose order has no usable version is kept, money and all, unattributed
    left join orders
        on order_lines.order_id = orders.order_id

),

changed as (

    select * from lines_with_orders
    {% if is_incremental() %}
        -- only what was loaded within the lookback window of the last run
        -- (on Spark, every row of the days holding such rows: see incremental_replace)
        where {{ incremental_changed_rows(
            'lines_with_orders', 'loaded_at', 'cast(attributed_at as date)'
        ) }}
    {% endif %}

),

final as (

    select
        -- keys
        changed.order_line_id,
        changed.order_id,
        changed.customer_id,
        customers.customer_version_key,
        changed.product_id,
        products.product_version_key,
        cast(changed.attributed_at as date) as ordered_date,

        -- strings
        changed.channel,
        changed.order_status,

        -- flags
        changed.is_attributed,

        -- numerics
        changed.quantity,
        changed.unit_price,
        changed.discount_amount,
        cast(changed.quantity * changed.unit_price as decimal(14, 2)) as gross_revenue,
        cast(
            changed.quantity * changed.unit_price - changed.discount_amount as decimal(14, 2)
        ) as net_revenue,
        -- cost and margin at the product cost valid when the order was placed
        products.unit_cost,
        cast(changed.quantity * products.unit_cost as decimal(14, 2)) as cost_of_goods,
        cast(
            changed.quantity * changed.unit_price - changed.discount_amount
            - changed.quantity * products.unit_cost as decimal(14, 2)
        ) as gross_margin,

        -- timestamps
        changed.ordered_at,
        changed.loaded_at

    from changed
    -- the versions valid when the order was placed (an unattributed line: on its file's day)
    left join products
        on
            changed.product_id = products.product_id
            and changed.attributed_at >= products.valid_from
            and changed.attributed_at < products.valid_to
    left join customers
        on
            changed.customer_id = customers.customer_id
            and changed.ordered_at >= customers.valid_from
            and changed.ordered_at < customers.valid_to

)

select * from final
