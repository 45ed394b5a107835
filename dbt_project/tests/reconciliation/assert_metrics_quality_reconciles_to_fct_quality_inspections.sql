{#- Defects, sampled units and inspections of metrics_quality equal those of
    fct_quality_inspections. -#}
with

totals as (

    select
        (select sum(defects_found) from {{ ref('fct_quality_inspections') }}) as fact_defects,
        (select sum(defects) from {{ ref('metrics_quality') }}) as metric_defects,
        (select sum(sample_size) from {{ ref('fct_quality_inspections') }}) as fact_sampled,
        (select sum(units_inspected) from {{ ref('metrics_quality') }}) as metric_sampled,
        (select count(*) from {{ ref('fct_quality_inspections') }}) as fact_inspections,
        (select sum(inspections) from {{ ref('metrics_quality') }}) as metric_inspections

)

select *
from totals
where
    coalesce(fact_defects, 0) <> coalesce(metric_defects, 0)
    or coalesce(fact_sampled, 0) <> coalesce(metric_sampled, 0)
    or coalesce(fact_inspections, 0) <> coalesce(metric_inspections, 0)
