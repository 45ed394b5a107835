{#- Net revenue, units and lines of metrics_sales_performance equal those of fct_order_lines
    (no line lost by the product join, none counted twice). -#}
with

totals as (

    select
        (select sum(net_revenue) from {{ ref('fct_order_lines') }}) as fact_net_revenue,
        (select sum(net_revenue) from {{ ref('metrics_sales_performance') }}) as metric_net_revenue,
        (select sum(quantity) from {{ ref('fct_order_lines') }}) as fact_units,
        (select sum(units) from {{ ref('metrics_sales_performance') }}) as metric_units,
        (select count(*) from {{ ref('fct_order_lines') }}) as fact_lines,
        (select sum(lines) from {{ ref('metrics_sales_performance') }}) as metric_lines

)

select *
from totals
where
    coalesce(fact_net_revenue, 0) <> coalesce(metric_net_revenue, 0)
    or coalesce(fact_units, 0) <> coalesce(metric_units, 0)
    or coalesce(fact_lines, 0) <> coalesce(metric_lines, 0)
