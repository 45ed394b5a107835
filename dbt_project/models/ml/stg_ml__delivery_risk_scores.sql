with

source as (

    select * from {{ source('ml', 'delivery_risk_scores') }}

),

renamed as (

    select
        -- ids
        cast(shipment_id as {{ dbt.type_bigint() }}) as shipment_id,

        -- strings
        cast(model_name as {{ dbt.type_string() }}) as model_name,
        cast(model_run_id as {{ dbt.type_string() }}) as model_run_id,
        cast(model_uri as {{ dbt.type_string() }}) as model_uri,

        -- numerics
        cast(model_version as {{ dbt.type_int() }}) as model_version,
        cast(late_probability as decimal(9, 6)) as late_probability,

        -- dates
        cast(shipped_date as date) as shipped_date,
        cast(scored_date as date) as scored_date

    from source

)

select * from renamed
