{#- Business rule: a parcel is delivered after it shipped. One row per delivered shipment whose
    delivered_at is earlier than its shipped_at. -#}

with

shipments as (

    select * from {{ ref('fct_shipments') }}
    {% if not data_tests_check_everything() %}
        where loaded_at >= {{ recent_loads_cutoff(ref('fct_shipments'), 'loaded_at') }}
    {% endif %}

),

delivered_early as (

    select
        shipment_id,
        carrier_id,
        shipped_at,
        delivered_at
    from shipments
    where delivered_at < shipped_at

)

select * from delivered_early
