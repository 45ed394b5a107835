with

source as (

    select * from {{ source('bronze', 'facilities') }}

),

renamed as (

    select
        -- ids
        cast(facility_id as {{ dbt.type_bigint() }}) as facility_id,

        -- strings
        cast(facility_name as {{ dbt.type_string() }}) as facility_name,
        cast(facility_type as {{ dbt.type_string() }}) as facility_type,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(country as {{ dbt.type_string() }}) as country,

        -- numerics
        cast(latitude as decimal(9, 6)) as latitude,
        cast(longitude as decimal(9, 6)) as longitude,
        cast(capacity_units_per_day as {{ dbt.type_int() }}) as capacity_units_per_day,

        -- dates
        cast(opened_on as date) as opened_on,

        -- timestamps
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        facility_name is not null
        and facility_type is not null
        and city is not null
        and state is not null
        and country is not null
        and latitude is not null
        and longitude is not null
        and capacity_units_per_day is not null
        and opened_on is not null
        and updated_at is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by facility_id
            order by updated_at desc, loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        facility_id,

        -- strings
        facility_name,
        facility_type,
        city,
        state,
        country,

        -- numerics
        latitude,
        longitude,
        capacity_units_per_day,

        -- dates
        opened_on,

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
