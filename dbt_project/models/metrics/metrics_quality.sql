with

inspections as (

    select * from {{ ref('fct_quality_inspections') }}

),

inspections_aggregated as (

    select
        inspected_date,
        facility_id,
        count(*) as inspections,
        sum(case when is_failed then 1 else 0 end) as failed,
        sum(case when not is_failed then 1 else 0 end) as passed,
        sum(sample_size) as units_inspected,
        sum(defects_found) as defects

    from inspections
    group by inspected_date, facility_id

),

final as (

    select
        -- grain
        inspected_date,
        facility_id,

        -- counts
        cast(inspections as bigint) as inspections,
        cast(failed as bigint) as failed,
        cast(passed as bigint) as passed,
        cast(units_inspected as bigint) as units_inspected,
        cast(defects as bigint) as defects,

        -- rates (from the counts above, rounded half-up: re-aggregate as sum / sum)
        {{ safe_ratio('defects', 'units_inspected', 4, 10) }} as defect_rate,
        {{ safe_ratio('passed', 'inspections', 4, 10) }} as first_pass_yield

    from inspections_aggregated

)

select * from final
