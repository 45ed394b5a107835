-- Developer notes (moved from the YAML description, which is written for BI users). Missing
-- parents: scrap naming an inspection that is not in fct_quality_inspections is kept; the
-- relationships test on inspection_id warns rather than fail the build, since the cause is
-- already recorded upstream and a re-delivered parent repairs it on the next run.

with

waste_events as (

    select * from {{ ref('stg_bronze__waste_events') }}

),

final as (

    select
        -- keys
        waste_event_id,
        facility_id,
        material_id,
        inspection_id,
        cast(recorded_at as date) as recorded_date,

        -- strings
        waste_type,
        disposal_method,

        -- numerics
        quantity_kg,
        cost,

        -- flags
        disposal_method in ('recycled', 'reused') as is_recycled_or_reused,

        -- timestamps
        recorded_at

    from waste_events

)

select * from final
