with

source as (

    select * from {{ source('bronze', 'recipe_lines') }}

),

renamed as (

    select
        -- ids
        cast(recipe_line_id as {{ dbt.type_bigint() }}) as recipe_line_id,
        cast(product_id as {{ dbt.type_bigint() }}) as product_id,
        cast(material_id as {{ dbt.type_bigint() }}) as material_id,

        -- strings
        cast(unit_of_measure as {{ dbt.type_string() }}) as unit_of_measure,

        -- numerics
        cast(quantity_per_unit as decimal(12, 3)) as quantity_per_unit,

        -- timestamps
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        product_id is not null
        and material_id is not null
        and quantity_per_unit is not null
        and unit_of_measure is not null
        and updated_at is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by recipe_line_id
            order by updated_at desc, loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        recipe_line_id,
        product_id,
        material_id,

        -- strings
        unit_of_measure,

        -- numerics
        quantity_per_unit,

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
