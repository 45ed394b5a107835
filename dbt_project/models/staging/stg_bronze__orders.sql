{{
    config(
        materialized=staging_materialization(),
        unique_key='order_id',
        incremental_strategy='delete+insert',
    )
}}

with

source as (

    select * from {{ source('bronze', 'orders') }}
    {{ new_loads_only(source('bronze', 'orders'), 'order_id') }}

),

renamed as (

    select
        -- ids
        cast(order_id as {{ dbt.type_bigint() }}) as order_id,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,

        -- strings
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(status as {{ dbt.type_string() }}) as status,

        -- timestamps
        cast(ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        customer_id is not null
        and ordered_at is not null
        and channel is not null
        and status is not null
        and updated_at is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by updated_at desc, loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        order_id,
        customer_id,

        -- strings
        channel,
        status,

        -- timestamps
        ordered_at,
        updated_at,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
