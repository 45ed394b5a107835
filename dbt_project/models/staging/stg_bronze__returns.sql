{{
    config(
        materialized=staging_materialization(),
        unique_key='return_id',
        incremental_strategy='delete+insert',
    )
}}

with

source as (

    select * from {{ source('bronze', 'returns') }}
    {{ new_loads_only(source('bronze', 'returns'), 'return_id') }}

),

renamed as (

    select
        -- ids
        cast(return_id as {{ dbt.type_bigint() }}) as return_id,
        cast(order_line_id as {{ dbt.type_bigint() }}) as order_line_id,

        -- strings
        cast(reason as {{ dbt.type_string() }}) as reason,
        cast(status as {{ dbt.type_string() }}) as status,

        -- numerics
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(refund_amount as decimal(12, 2)) as refund_amount,

        -- timestamps
        cast(requested_at as {{ dbt.type_timestamp() }}) as requested_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        order_line_id is not null
        and requested_at is not null
        and reason is not null
        and quantity is not null
        and refund_amount is not null
        and status is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by return_id
            order by loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        return_id,
        order_line_id,

        -- strings
        reason,
        status,

        -- numerics
        quantity,
        refund_amount,

        -- timestamps
        requested_at,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
