-- Developer notes (moved from the YAML description, which is written for BI users). Built from
-- every version landed in bronze (staging stg_bronze__product_versions, windowed in
-- int_product_versions), not from a dbt snapshot: a batch of several days loaded at once still
-- yields its full history, which a snapshot (it sees only the latest version at each dbt run)
-- would collapse. product_version_key is the md5 of product_id and valid_from (macro
-- version_key); valid_from is the source updated_at.

with

product_versions as (

    select * from {{ ref('int_product_versions') }}

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
