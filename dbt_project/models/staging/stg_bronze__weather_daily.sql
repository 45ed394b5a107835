with

source as (

    select * from {{ source('bronze', 'weather_daily') }}

),

renamed as (

    select
        -- key
        cast(weather_date as date) as weather_date,
        cast(city as {{ dbt.type_string() }}) as city,

        -- strings
        cast(state as {{ dbt.type_string() }}) as state,
        cast(condition as {{ dbt.type_string() }}) as condition,

        -- numerics
        cast(latitude as decimal(9, 6)) as latitude,
        cast(longitude as decimal(9, 6)) as longitude,
        cast(temperature_c as decimal(5, 1)) as temperature_c,
        cast(precipitation_mm as decimal(6, 1)) as precipitation_mm,
        cast(wind_speed_kmh as decimal(5, 1)) as wind_speed_kmh,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        state is not null
        and latitude is not null
        and longitude is not null
        and temperature_c is not null
        and precipitation_mm is not null
        and wind_speed_kmh is not null
        and condition is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by weather_date, city
            order by loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- key
        weather_date,
        city,

        -- strings
        state,
        condition,

        -- numerics
        latitude,
        longitude,
        temperature_c,
        precipitation_mm,
        wind_speed_kmh,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
