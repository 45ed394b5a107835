with

inspections as (

    select * from {{ ref('stg_bronze__quality_inspections') }}

),

final as (

    select
        -- keys
        inspection_id,
        product_id,
        facility_id,
        cast(inspected_at as date) as inspected_date,

        -- strings
        result,

        -- numerics
        lot_size,
        sample_size,
        defects_found,
        cast(
            case
                when sample_size > 0
                    then cast(defects_found as decimal(12, 4)) / sample_size
            end as decimal(10, 4)
        ) as defect_rate,

        -- flags
        result = 'fail' as is_failed,

        -- timestamps
        inspected_at

    from inspections

)

select * from final
