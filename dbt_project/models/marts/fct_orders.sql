-- Developer notes (moved from the YAML description, which is written for BI users). Line totals
-- are aggregated per order before the join (no fan-out), shipment times aggregated per order
-- likewise. Incremental (delete+insert on order_id): each run rebuilds the orders with a
-- version, a line or a shipment loaded in the last `lookback_days` days before the newest
-- loaded_at already in the table, from all their lines and shipments; a full refresh gives the
-- same table (tests/test_dbt_marts.py proves it). loaded_at is the latest load time of the
-- order's latest version, of its lines or of its shipments.

{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy=incremental_replace_strategy(),
        partition_by=incremental_replace_partitions('ordered_date'),
        on_schema_change='fail',
    )
}}

with

orders as (

    select * from {{ ref('stg_bronze__orders') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

-- one row per shipment already: reading the fact spares deduplicating bronze again
shipments as (

    select * from {{ ref('fct_shipments') }}

),

{% if is_incremental() %}
    {%- set cutoff = lookback_cutoff() %}
    -- an order's row changes with a new version of it, or a line or shipment of it loaded
    -- within the lookback window of the last run
    touched_orders as (

        -- read from the relations, not the CTEs above: a CTE read twice is materialized whole
        -- by DuckDB (all 10M order lines at scale 10, 4 s of a daily build)
        select order_id from {{ ref('stg_bronze__orders') }}
        where loaded_at > {{ cutoff }}
        union
        select order_id from {{ ref('fct_order_lines') }}
        where loaded_at > {{ cutoff }}
        union
        select order_id from {{ ref('fct_shipments') }}
        where loaded_at > {{ cutoff }}

    ),
{% endif %}

changed as (

    select * from orders
    {% if is_incremental() %}
        -- (on Spark, every order of the days holding such orders: see incremental_replace)
        where {{ incremental_changed_keys(
            'orders', 'order_id', 'touched_orders', 'cast(ordered_at as date)'
        ) }}
    {% endif %}

),

-- aggregated to one row per order before the join, so nothing fans out; every line of a
-- changed order, not only its changed lines
order_totals as (

    select
        order_id,
        -- the same customer version on every line of an order
        max(customer_version_key) as customer_version_key,
        cast(count(*) as integer) as lines_count,
        cast(sum(quantity) as integer) as units,
        cast(sum(gross_revenue) as decimal(14, 2)) as gross_revenue,
        cast(sum(discount_amount) as decimal(14, 2)) as discount_amount,
        cast(sum(net_revenue) as decimal(14, 2)) as net_revenue,
        max(loaded_at) as loaded_at

    from order_lines
    {% if is_incremental() %}
        where order_id in (select changed.order_id from changed)
    {% endif %}
    group by order_id

),

order_shipments as (

    select
        order_id,
        min(shipped_at) as shipped_at,
        max(delivered_at) as delivered_at,
        max(loaded_at) as loaded_at

    from shipments
    {% if is_incremental() %}
        where order_id in (select changed.order_id from changed)
    {% endif %}
    group by order_id

),

final as (

    select
        -- keys
        changed.order_id,
        changed.customer_id,
        order_totals.customer_version_key,
        cast(changed.ordered_at as date) as ordered_date,

        -- strings
        changed.channel,
        changed.status as order_status,

        -- numerics (cast again: coalesce with a bare 0 widens decimal(14, 2) to numeric on
        -- PostgreSQL, and an incremental run then fails with its schema out of sync)
        cast(coalesce(order_totals.lines_count, 0) as integer) as lines_count,
        cast(coalesce(order_totals.units, 0) as integer) as units,
        cast(coalesce(order_totals.gross_revenue, 0) as decimal(14, 2)) as gross_revenue,
        cast(coalesce(order_totals.discount_amount, 0) as decimal(14, 2)) as discount_amount,
        cast(coalesce(order_totals.net_revenue, 0) as decimal(14, 2)) as net_revenue,

        -- timestamps
        changed.ordered_at,
        order_shipments.shipped_at,
        order_shipments.delivered_at,
        -- the latest load of the order, its lines or its shipments
        greatest(
            changed.loaded_at,
            coalesce(order_totals.loaded_at, changed.loaded_at),
            coalesce(order_shipments.loaded_at, changed.loaded_at)
        ) as loaded_at

    from changed
    left join order_totals
        on changed.order_id = order_totals.order_id
    left join order_shipments
        on changed.order_id = order_shipments.order_id

)

select * from final
