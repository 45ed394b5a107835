{{
    config(
        materialized=staging_materialization(),
        unique_key='waste_event_id',
        incremental_strategy='delete+insert',
    )
}}

with

source as (

    select * from {{ source('bronze', 'waste_events') }}
    {{ new_loads_only(source('bronze', 'waste_events'), 'waste_event_id') }}

),

renamed as (

    select
        -- ids
        cast(waste_event_id as {{ dbt.type_bigint() }}) as waste_event_id,
        cast(facility_id as {{ dbt.type_bigint() }}) as facility_id,
        cast(material_id as {{ dbt.type_bigint() }}) as material_id,
        cast(inspection_id as {{ dbt.type_bigint() }}) as inspection_id,

        -- strings
        cast(waste_type as {{ dbt.type_string() }}) as waste_type,
        cast(disposal_method as {{ dbt.type_string() }}) as disposal_method,

        -- numerics
        cast(quantity_kg as decimal(12, 3)) as quantity_kg,
        cast(cost as decimal(12, 2)) as cost,

        -- timestamps
        cast(recorded_at as {{ dbt.type_timestamp() }}) as recorded_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        facility_id is not null
        and material_id is not null
        and recorded_at is not null
        and waste_type is not null
        and quantity_kg is not null
        and disposal_method is not null
        and cost is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by waste_event_id
            order by loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        waste_event_id,
        facility_id,
        material_id,
        inspection_id,

        -- strings
        waste_type,
        disposal_method,

        -- numerics
        quantity_kg,
        cost,

        -- timestamps
        recorded_at,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
