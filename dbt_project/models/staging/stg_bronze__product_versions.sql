with

source as (

    select * from {{ source('bronze', 'products') }}

),

renamed as (

    select
        -- ids
        cast(product_id as {{ dbt.type_bigint() }}) as product_id,

        -- strings
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(product_name as {{ dbt.type_string() }}) as product_name,
        cast(category as {{ dbt.type_string() }}) as category,

        -- numerics
        cast(list_price as decimal(12, 2)) as list_price,
        cast(unit_cost as decimal(12, 2)) as unit_cost,
        cast(weight_kg as decimal(10, 3)) as weight_kg,

        -- booleans
        cast(is_active as {{ dbt.type_boolean() }}) as is_active,

        -- dates
        cast(launched_on as date) as launched_on,

        -- timestamps
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        sku is not null
        and product_name is not null
        and category is not null
        and list_price is not null
        and unit_cost is not null
        and weight_kg is not null
        and launched_on is not null
        and is_active is not null
        and updated_at is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by product_id, updated_at
            order by loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        product_id,

        -- strings
        sku,
        product_name,
        category,

        -- numerics
        list_price,
        unit_cost,
        weight_kg,

        -- booleans
        is_active,

        -- dates
        launched_on,

        -- timestamps
        updated_at,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
