{#- One fct_shipments row per distinct shipment in bronze with a usable version, and as many
    delivered shipments as staging says. -#}
with

totals as (

    select
        (
            select count(distinct shipment_id) from {{ source('bronze', 'shipments') }}
            where
                order_id is not null and carrier_id is not null and facility_id is not null
                and shipped_at is not null and promised_at is not null and status is not null
                and distance_km is not null and destination_city is not null
                and destination_state is not null and updated_at is not null
        ) as bronze_shipments,
        (select count(*) from {{ ref('fct_shipments') }}) as fact_shipments,
        (
            select count(*) from {{ ref('stg_bronze__shipments') }}
            where delivered_at is not null
        ) as staged_delivered,
        (
            select count(*) from {{ ref('fct_shipments') }}
            where is_delivered
        ) as fact_delivered

)

select *
from totals
where bronze_shipments <> fact_shipments or staged_delivered <> fact_delivered
