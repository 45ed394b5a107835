{{
    config(
        materialized=staging_materialization(),
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
    )
}}

with

source as (

    select * from {{ source('bronze', 'order_lines') }}
    {{ new_loads_only(source('bronze', 'order_lines'), 'order_line_id') }}

),

renamed as (

    select
        -- ids
        cast(order_line_id as {{ dbt.type_bigint() }}) as order_line_id,
        cast(order_id as {{ dbt.type_bigint() }}) as order_id,
        cast(product_id as {{ dbt.type_bigint() }}) as product_id,

        -- numerics
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(unit_price as decimal(12, 2)) as unit_price,
        cast(discount_amount as decimal(12, 2)) as discount_amount,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        order_id is not null
        and product_id is not null
        and quantity is not null
        and unit_price is not null
        and discount_amount is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_line_id
            order by loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        order_line_id,
        order_id,
        product_id,

        -- numerics
        quantity,
        unit_price,
        discount_amount,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
