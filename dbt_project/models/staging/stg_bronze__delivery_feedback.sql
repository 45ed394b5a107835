{{
    config(
        materialized=staging_materialization(),
        unique_key='feedback_id',
        incremental_strategy='delete+insert',
    )
}}

with

source as (

    select * from {{ source('bronze', 'delivery_feedback') }}
    {{ new_loads_only(source('bronze', 'delivery_feedback'), 'feedback_id') }}

),

renamed as (

    select
        -- ids
        cast(feedback_id as {{ dbt.type_bigint() }}) as feedback_id,
        cast(shipment_id as {{ dbt.type_bigint() }}) as shipment_id,
        cast(order_id as {{ dbt.type_bigint() }}) as order_id,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,

        -- strings
        cast(comment as {{ dbt.type_string() }}) as comment,

        -- numerics
        cast(rating as {{ dbt.type_int() }}) as rating,

        -- timestamps
        cast(submitted_at as {{ dbt.type_timestamp() }}) as submitted_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        shipment_id is not null
        and order_id is not null
        and customer_id is not null
        and submitted_at is not null
        and rating is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by feedback_id
            order by loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        feedback_id,
        shipment_id,
        order_id,
        customer_id,

        -- strings
        comment,

        -- numerics
        rating,

        -- timestamps
        submitted_at,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
