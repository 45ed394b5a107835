with

product_versions as (

    select * from {{ ref('stg_bronze__product_versions') }}

),

final as (

    select
        -- keys
        {{ version_key('product_id', 'valid_from') }} as product_version_key,
        product_id,

        -- attributes
        sku,
        product_name,
        category,
        list_price,
        unit_cost,
        weight_kg,
        is_active,
        launched_on,

        -- validity window: [valid_from, valid_to), far future for the current version
        valid_from,
        coalesce(valid_to, {{ far_future() }}) as valid_to,
        is_current

    from product_versions

)

select * from final
