{#- Shipments, deliveries and on-time deliveries of metrics_delivery_performance equal those
    of fct_shipments (the carrier join adds no rows). -#}
with

totals as (

    select
        (select count(*) from {{ ref('fct_shipments') }}) as fact_shipments,
        (select sum(shipments) from {{ ref('metrics_delivery_performance') }}) as metric_shipments,
        (
            select sum(case when is_on_time then 1 else 0 end) from {{ ref('fct_shipments') }}
        ) as fact_on_time,
        (select sum(on_time) from {{ ref('metrics_delivery_performance') }}) as metric_on_time

)

select *
from totals
where
    coalesce(fact_shipments, 0) <> coalesce(metric_shipments, 0)
    or coalesce(fact_on_time, 0) <> coalesce(metric_on_time, 0)
