with

facilities as (

    select * from {{ ref('stg_bronze__facilities') }}

),

final as (

    select
        -- keys
        facility_id,

        -- attributes
        facility_name,
        facility_type,
        city,
        state,
        country,
        latitude,
        longitude,
        capacity_units_per_day,
        opened_on,

        -- timestamps
        updated_at

    from facilities

)

select * from final
