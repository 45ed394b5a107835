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

-- aggregated to one row per order before the join, so nothing fans out
order_totals as (

    select
        order_id,
        -- the same customer version on every line of an order
        max(customer_version_key) as customer_version_key,
        cast(count(*) as integer) as lines_count,
        cast(sum(quantity) as integer) as units,
        cast(sum(gross_revenue) as decimal(14, 2)) as gross_revenue,
        cast(sum(discount_amount) as decimal(14, 2)) as discount_amount,
        cast(sum(net_revenue) as decimal(14, 2)) as net_revenue

    from order_lines
    group by order_id

),

order_shipments as (

    select
        order_id,
        min(shipped_at) as shipped_at,
        max(delivered_at) as delivered_at

    from shipments
    group by order_id

),

final as (

    select
        -- keys
        orders.order_id,
        orders.customer_id,
        order_totals.customer_version_key,
        cast(orders.ordered_at as date) as ordered_date,

        -- strings
        orders.channel,
        orders.status as order_status,

        -- numerics
        coalesce(order_totals.lines_count, 0) as lines_count,
        coalesce(order_totals.units, 0) as units,
        coalesce(order_totals.gross_revenue, 0) as gross_revenue,
        coalesce(order_totals.discount_amount, 0) as discount_amount,
        coalesce(order_totals.net_revenue, 0) as net_revenue,

        -- timestamps
        orders.ordered_at,
        order_shipments.shipped_at,
        order_shipments.delivered_at

    from orders
    left join order_totals
        on orders.order_id = order_totals.order_id
    left join order_shipments
        on orders.order_id = order_shipments.order_id

)

select * from final
