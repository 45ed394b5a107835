-- The validity window of each customer version: [valid_from, valid_to), valid_to the next
-- version's updated_at (null for the current one). A view: the window needs every version of a
-- customer, which the incremental staging table holds after each daily run (it re-reads every
-- version of a key that had a new load), so the window is computed afresh on every read and
-- the dim built from it matches a full refresh. "The latest version" is `where is_current`.

with

customer_versions as (

    select * from {{ ref('stg_bronze__customer_versions') }}

),

windowed as (

    select
        *,

        -- validity window (macro validity_window)
        {{ validity_window('customer_id') }}

    from customer_versions

)

select * from windowed
