-- Developer notes (moved from the YAML description, which is written for BI users). Built from
-- every version landed in bronze (staging stg_bronze__customer_versions, windowed in
-- int_customer_versions), not from a dbt snapshot: a batch of several days loaded at once still
-- yields its full history, which a snapshot (it sees only the latest version at each dbt run)
-- would collapse. customer_version_key is the md5 of customer_id and valid_from (macro
-- version_key); valid_from is the source updated_at; email_hash is the HMAC-SHA256 under
-- PII_HASH_KEY made by the hash_pii macro in staging.

with

customer_versions as (

    select * from {{ ref('int_customer_versions') }}

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
