{{
    config(
        materialized=staging_materialization(),
        unique_key=['customer_id', 'updated_at'],
        incremental_strategy='delete+insert',
    )
}}

with

source as (

    select * from {{ source('bronze', 'customers') }}
    {{ new_loads_only(source('bronze', 'customers'), 'customer_id') }}

),

renamed as (

    select
        -- ids
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,

        -- strings
        cast(city as {{ dbt.type_string() }}) as city,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(postal_code as {{ dbt.type_string() }}) as postal_code,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(segment as {{ dbt.type_string() }}) as segment,

        -- personal data, hashed
        {{ hash_pii('first_name') }} as first_name_hash,
        {{ hash_pii('last_name') }} as last_name_hash,
        {{ hash_pii('email') }} as email_hash,
        {{ hash_pii('phone') }} as phone_hash,
        {{ hash_pii('street_address') }} as street_address_hash,

        -- booleans
        cast(marketing_opt_in as {{ dbt.type_boolean() }}) as marketing_opt_in,

        -- timestamps
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,

        -- load metadata
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(_source_file as {{ dbt.type_string() }}) as source_file,
        cast(_source_line as {{ dbt.type_bigint() }}) as source_line

    from source
    -- a row with an empty required field cannot be used: it is left out
    where
        first_name is not null
        and last_name is not null
        and email is not null
        and city is not null
        and state is not null
        and country is not null
        and segment is not null
        and marketing_opt_in is not null
        and created_at is not null
        and updated_at is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id, updated_at
            order by loaded_at desc, source_file desc, source_line desc
        ) as recency_rank

    from renamed

),

deduplicated as (

    select
        -- ids
        customer_id,

        -- strings
        city,
        state,
        postal_code,
        country,
        segment,

        -- personal data, hashed
        first_name_hash,
        last_name_hash,
        email_hash,
        phone_hash,
        street_address_hash,

        -- booleans
        marketing_opt_in,

        -- timestamps
        created_at,
        updated_at,

        -- load metadata
        loaded_at,
        source_file,
        source_line

    from ranked
    where recency_rank = 1

)

select * from deduplicated
