with

carriers as (

    select * from {{ ref('stg_bronze__carriers') }}

),

final as (

    select
        -- keys
        carrier_id,

        -- attributes
        carrier_name,
        service_level,

        -- timestamps
        updated_at

    from carriers

)

select * from final
