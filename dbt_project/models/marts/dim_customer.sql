with

customer_versions as (

    select * from {{ ref('stg_bronze__customer_versions') }}

),

final as (

    select
        -- keys
        {{ version_key('customer_id', 'valid_from') }} as customer_version_key,
        customer_id,

        -- attributes (personal data only hashed)
        email_hash,
        city,
        state,
        postal_code,
        country,
        segment,
        marketing_opt_in,
        created_at,

        -- validity window: [valid_from, valid_to), far future for the current version
        valid_from,
        coalesce(valid_to, {{ far_future() }}) as valid_to,
        is_current

    from customer_versions

)

select * from final
