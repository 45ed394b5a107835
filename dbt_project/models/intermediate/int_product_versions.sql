-- The validity window of each product version: [valid_from, valid_to), valid_to the next
-- version's updated_at (null for the current one). A view, over the staging view of every
-- version landed in bronze: the window needs every version of a product, so it is computed
-- afresh on every read and the dim built from it matches a full refresh. "The latest version"
-- is `where is_current`.

with

product_versions as (

    select * from {{ ref('stg_bronze__product_versions') }}

),

windowed as (

    select
        *,

        -- validity window (macro validity_window)
        {{ validity_window('product_id') }}

    from product_versions

)

select * from windowed
