with

materials as (

    select * from {{ ref('stg_bronze__materials') }}

),

final as (

    select
        -- keys
        material_id,

        -- attributes
        material_name,
        material_type,
        unit_of_measure,
        unit_cost,
        is_recyclable,

        -- timestamps
        updated_at

    from materials

)

select * from final
