{#- Refunds and returned units of metrics_product_performance equal those of fct_returns with a
    known product (a return whose order line did not load has none), and its net revenue equals
    that of fct_order_lines. -#}
with

totals as (

    select
        (
            select sum(refund_amount) from {{ ref('fct_returns') }}
            where product_id is not null
        ) as fact_refunds,
        (select sum(refunds) from {{ ref('metrics_product_performance') }}) as metric_refunds,
        (
            select sum(quantity) from {{ ref('fct_returns') }}
            where product_id is not null
        ) as fact_returned_units,
        (
            select sum(returned_units) from {{ ref('metrics_product_performance') }}
        ) as metric_returned_units,
        (select sum(net_revenue) from {{ ref('fct_order_lines') }}) as fact_net_revenue,
        (
            select sum(net_revenue) from {{ ref('metrics_product_performance') }}
        ) as metric_net_revenue

)

select *
from totals
where
    coalesce(fact_refunds, 0) <> coalesce(metric_refunds, 0)
    or coalesce(fact_returned_units, 0) <> coalesce(metric_returned_units, 0)
    or coalesce(fact_net_revenue, 0) <> coalesce(metric_net_revenue, 0)
