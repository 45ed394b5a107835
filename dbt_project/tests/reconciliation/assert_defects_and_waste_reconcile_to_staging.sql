{#- Defects found and waste kg in the facts equal staging's (one row per inspection / waste
    event, nothing dropped or doubled). -#}
with

totals as (

    select
        (
            select sum(defects_found) from {{ ref('stg_bronze__quality_inspections') }}
        ) as staged_defects,
        (select sum(defects_found) from {{ ref('fct_quality_inspections') }}) as fact_defects,
        (select sum(quantity_kg) from {{ ref('stg_bronze__waste_events') }}) as staged_waste_kg,
        (select sum(quantity_kg) from {{ ref('fct_waste_events') }}) as fact_waste_kg

)

select *
from totals
where
    coalesce(staged_defects, 0) <> coalesce(fact_defects, 0)
    or coalesce(staged_waste_kg, 0) <> coalesce(fact_waste_kg, 0)
