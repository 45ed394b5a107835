{#- metrics_sustainability_daily against the facts: production (sum of lot_size) and waste (kg,
    cost, events) summed over every facility-day equal fct_quality_inspections and
    fct_waste_events, and its waste equals that of metrics_sustainability (nothing lost, no
    production counted once per disposal method). -#}
with

totals as (

    select
        (
            select sum(units_produced) from {{ ref('metrics_sustainability_daily') }}
        ) as metric_units_produced,
        (select sum(lot_size) from {{ ref('fct_quality_inspections') }}) as fact_units_produced,
        (select sum(waste_kg) from {{ ref('metrics_sustainability_daily') }}) as metric_waste_kg,
        (select sum(quantity_kg) from {{ ref('fct_waste_events') }}) as fact_waste_kg,
        (
            select sum(waste_kg) from {{ ref('metrics_sustainability') }}
        ) as per_method_waste_kg,
        (
            select sum(waste_cost) from {{ ref('metrics_sustainability_daily') }}
        ) as metric_waste_cost,
        (select sum(cost) from {{ ref('fct_waste_events') }}) as fact_waste_cost,
        (
            select sum(waste_events) from {{ ref('metrics_sustainability_daily') }}
        ) as metric_waste_events,
        (select count(*) from {{ ref('fct_waste_events') }}) as fact_waste_events

)

select *
from totals
where
    coalesce(metric_units_produced, 0) <> coalesce(fact_units_produced, 0)
    or coalesce(metric_waste_kg, 0) <> coalesce(fact_waste_kg, 0)
    or coalesce(metric_waste_kg, 0) <> coalesce(per_method_waste_kg, 0)
    or coalesce(metric_waste_cost, 0) <> coalesce(fact_waste_cost, 0)
    or coalesce(metric_waste_events, 0) <> coalesce(fact_waste_events, 0)
