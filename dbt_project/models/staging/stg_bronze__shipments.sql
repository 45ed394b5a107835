{{
    config(
        materialized=staging_materialization(),
        unique_key='shipment_id',
        incremental_strategy='delete+insert',
    )
}}

with

source as (

    select * from {{ source('bronze', 'shipments') }}
    {{ new_loads_only(source('bronze', 'shipments'), 'shipment_id') }}

),

renamed as (

    select
        -- ids
        cast(shipment_id as {{ dbt.type_bigint() }}) as shipment_id,
        cast(order_id as {{ dbt.type_bigint() }}) as order_id,
        cast(carrier_id as {{ dbt.type_bigint() }}) as carrier_id,
        cast(facility_id as {{ dbt.type_bigint() }}) as facility_id,

        -- strings
        cast(status as {{ dbt.type_string() }}) as status,
        cast(destination_city as {{ dbt.type_string() }}) as destination_city,
        cast(destination_state as {{ dbt.type_string() }}) as destination_state,

        -- numerics
        cast(distance_km as decimal(10, 1)) as distance_km,

        -- timestamps
        cast(shipped_at as {{ dbt.type_timestamp() }}) as shipped_at,
        cast(promised_at as {{ dbt.type_timestamp() }}) as promised_at,
        cast(delivered_at as {{ dbt.type_timestamp() }}) as delivered_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        order_id is not null
        and carrier_id is not null
        and facility_id is not null
        and shipped_at is not null
        and promised_at is not null
        and status is not null
        and distance_km is not null
        and destination_city is not null
        and destination_state is not null
        and updated_at is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by shipment_id
            order by updated_at desc, loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        shipment_id,
        order_id,
        carrier_id,
        facility_id,

        -- strings
        status,
        destination_city,
        destination_state,

        -- numerics
        distance_km,

        -- timestamps
        shipped_at,
        promised_at,
        delivered_at,
        updated_at,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
