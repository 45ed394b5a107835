with

source as (

    select * from {{ source('bronze', 'materials') }}

),

renamed as (

    select
        -- ids
        cast(material_id as {{ dbt.type_bigint() }}) as material_id,

        -- strings
        cast(material_name as {{ dbt.type_string() }}) as material_name,
        cast(material_type as {{ dbt.type_string() }}) as material_type,
        cast(unit_of_measure as {{ dbt.type_string() }}) as unit_of_measure,

        -- numerics
        cast(unit_cost as decimal(12, 2)) as unit_cost,

        -- booleans
        cast(is_recyclable as {{ dbt.type_boolean() }}) as is_recyclable,

        -- timestamps
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        material_name is not null
        and material_type is not null
        and unit_of_measure is not null
        and unit_cost is not null
        and is_recyclable is not null
        and updated_at is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by material_id
            order by updated_at desc, loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        material_id,

        -- strings
        material_name,
        material_type,
        unit_of_measure,

        -- numerics
        unit_cost,

        -- booleans
        is_recyclable,

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
