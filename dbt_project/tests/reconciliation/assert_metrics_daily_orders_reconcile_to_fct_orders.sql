{#- Orders and revenue of metrics_daily_orders equal those of fct_orders (every order once),
    in total and without the cancelled orders; sales revenue, cost and margin of
    metrics_sales_performance equal those of fct_order_lines. -#}
with

totals as (

    select
        (select count(*) from {{ ref('fct_orders') }}) as fact_orders,
        (select sum(orders) from {{ ref('metrics_daily_orders') }}) as metric_orders,
        (select sum(net_revenue) from {{ ref('fct_orders') }}) as fact_net_revenue,
        (select sum(net_revenue) from {{ ref('metrics_daily_orders') }}) as metric_net_revenue,
        (
            select sum(net_revenue) from {{ ref('fct_orders') }}
            where order_status <> 'cancelled'
        ) as fact_net_revenue_excl_cancelled,
        (
            select sum(net_revenue_excl_cancelled) from {{ ref('metrics_daily_orders') }}
        ) as metric_net_revenue_excl_cancelled,
        (select sum(gross_margin) from {{ ref('fct_order_lines') }}) as fact_gross_margin,
        (
            select sum(gross_margin) from {{ ref('metrics_sales_performance') }}
        ) as metric_gross_margin

)

select *
from totals
where
    coalesce(fact_orders, 0) <> coalesce(metric_orders, 0)
    or coalesce(fact_net_revenue, 0) <> coalesce(metric_net_revenue, 0)
    or coalesce(fact_net_revenue_excl_cancelled, 0)
    <> coalesce(metric_net_revenue_excl_cancelled, 0)
    or coalesce(fact_gross_margin, 0) <> coalesce(metric_gross_margin, 0)
