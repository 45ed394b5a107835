{#- One fct_shipments row per distinct shipment in bronze with a usable version, and as many
    delivered shipments as staging says. In the `recent` scope (macros/data_tests_scope.sql) only
    the shipments with a copy among the recent loads are counted, on every side. -#}
{%- set check_everything = data_tests_check_everything() %}

with

{% if not check_everything %}
    checked_shipments as (

        select shipment_id from {{ source('bronze', 'shipments') }}
        where _loaded_at >= {{ recent_loads_cutoff(source('bronze', 'shipments')) }}

    ),
{% endif %}

bronze_shipments as (

    select * from {{ source('bronze', 'shipments') }}
    {% if not check_everything %}
        where shipment_id in (select shipment_id from checked_shipments)
    {% endif %}

),

staged_shipments as (

    select * from {{ ref('stg_bronze__shipments') }}
    {% if not check_everything %}
        where shipment_id in (select shipment_id from checked_shipments)
    {% endif %}

),

fact_shipments as (

    select * from {{ ref('fct_shipments') }}
    {% if not check_everything %}
        where shipment_id in (select shipment_id from checked_shipments)
    {% endif %}

),

totals as (

    select
        (
            select count(distinct shipment_id) from bronze_shipments
            where
                order_id is not null and carrier_id is not null and facility_id is not null
                and shipped_at is not null and promised_at is not null and status is not null
                and distance_km is not null and destination_city is not null
                and destination_state is not null and updated_at is not null
        ) as bronze_shipments,
        (select count(*) from fact_shipments) as fact_shipments,
        (
            select count(*) from staged_shipments
            where delivered_at is not null
        ) as staged_delivered,
        (
            select count(*) from fact_shipments
            where is_delivered
        ) as fact_delivered

)

select *
from totals
where bronze_shipments <> fact_shipments or staged_delivered <> fact_delivered
