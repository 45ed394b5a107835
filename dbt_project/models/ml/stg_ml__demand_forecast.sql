with

source as (

    select * from {{ source('ml', 'demand_forecast') }}

),

renamed as (

    select
        -- strings
        cast(category as {{ dbt.type_string() }}) as category,
        cast(model_name as {{ dbt.type_string() }}) as model_name,
        cast(model_run_id as {{ dbt.type_string() }}) as model_run_id,
        cast(model_uri as {{ dbt.type_string() }}) as model_uri,

        -- numerics
        cast(model_version as {{ dbt.type_int() }}) as model_version,
        cast(horizon_days as {{ dbt.type_int() }}) as horizon_days,
        cast(forecast_units as decimal(18, 2)) as forecast_units,
        cast(baseline_units as decimal(18, 2)) as baseline_units,

        -- dates
        cast(origin_date as date) as origin_date,
        cast(forecast_date as date) as forecast_date,
        cast(scored_date as date) as scored_date

    from source

)

select * from renamed
