{#- Waste kg and cost of metrics_sustainability equal those of fct_waste_events (the
    production join, at the facility-day grain, multiplies no waste row). -#}
with

totals as (

    select
        (select sum(quantity_kg) from {{ ref('fct_waste_events') }}) as fact_waste_kg,
        (select sum(waste_kg) from {{ ref('metrics_sustainability') }}) as metric_waste_kg,
        (select sum(cost) from {{ ref('fct_waste_events') }}) as fact_cost,
        (select sum(waste_cost) from {{ ref('metrics_sustainability') }}) as metric_cost

)

select *
from totals
where
    coalesce(fact_waste_kg, 0) <> coalesce(metric_waste_kg, 0)
    or coalesce(fact_cost, 0) <> coalesce(metric_cost, 0)
