-- Developer notes (moved from the YAML description, which is written for BI users): reconciles
-- to fct_orders (tests/reconciliation/assert_metrics_daily_orders_reconcile_to_fct_orders.sql).

with

orders as (

    select * from {{ ref('fct_orders') }}

),

final as (

    select
        -- grain
        ordered_date,
        channel,
        order_status,

        -- counts (additive over every dimension: one order is in exactly one row)
        cast(count(*) as bigint) as orders,
        cast(sum(lines_count) as bigint) as lines,
        cast(sum(units) as bigint) as units,

        -- revenue (USD), by the order's latest status
        cast(sum(gross_revenue) as decimal(18, 2)) as gross_revenue,
        cast(sum(discount_amount) as decimal(18, 2)) as discount,
        cast(sum(net_revenue) as decimal(18, 2)) as net_revenue,

        -- the same without cancelled orders (0 on the cancelled rows)
        cast(
            sum(case when order_status <> 'cancelled' then 1 else 0 end) as bigint
        ) as orders_excl_cancelled,
        cast(
            sum(case when order_status <> 'cancelled' then gross_revenue else 0 end)
            as decimal(18, 2)
        ) as gross_revenue_excl_cancelled,
        cast(
            sum(case when order_status <> 'cancelled' then discount_amount else 0 end)
            as decimal(18, 2)
        ) as discount_excl_cancelled,
        cast(
            sum(case when order_status <> 'cancelled' then net_revenue else 0 end)
            as decimal(18, 2)
        ) as net_revenue_excl_cancelled

    from orders
    group by ordered_date, channel, order_status

)

select * from final
