with

source as (

    select * from {{ source('bronze', 'carriers') }}

),

renamed as (

    select
        -- ids
        cast(carrier_id as {{ dbt.type_bigint() }}) as carrier_id,

        -- strings
        cast(carrier_name as {{ dbt.type_string() }}) as carrier_name,
        cast(service_level as {{ dbt.type_string() }}) as service_level,

        -- timestamps
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        carrier_name is not null
        and service_level is not null
        and updated_at is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by carrier_id
            order by updated_at desc, loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        carrier_id,

        -- strings
        carrier_name,
        service_level,

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
