{{
    config(
        materialized=staging_materialization(),
        unique_key='inspection_id',
        incremental_strategy='delete+insert',
    )
}}

with

source as (

    select * from {{ source('bronze', 'quality_inspections') }}
    {{ new_loads_only(source('bronze', 'quality_inspections'), 'inspection_id') }}

),

renamed as (

    select
        -- ids
        cast(inspection_id as {{ dbt.type_bigint() }}) as inspection_id,
        cast(product_id as {{ dbt.type_bigint() }}) as product_id,
        cast(facility_id as {{ dbt.type_bigint() }}) as facility_id,

        -- strings
        cast(result as {{ dbt.type_string() }}) as result,

        -- numerics
        cast(lot_size as {{ dbt.type_int() }}) as lot_size,
        cast(sample_size as {{ dbt.type_int() }}) as sample_size,
        cast(defects_found as {{ dbt.type_int() }}) as defects_found,

        -- timestamps
        cast(inspected_at as {{ dbt.type_timestamp() }}) as inspected_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        product_id is not null
        and facility_id is not null
        and inspected_at is not null
        and lot_size is not null
        and sample_size is not null
        and defects_found is not null
        and result is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by inspection_id
            order by loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        inspection_id,
        product_id,
        facility_id,

        -- strings
        result,

        -- numerics
        lot_size,
        sample_size,
        defects_found,

        -- timestamps
        inspected_at,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
