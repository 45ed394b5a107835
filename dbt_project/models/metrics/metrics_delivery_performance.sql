-- Developer notes (moved from the YAML description, which is written for BI users): shipments
-- are aggregated on their own, then joined to dim_carrier by its primary key (no fan-out).

with

shipments as (

    select * from {{ ref('fct_shipments') }}

),

carriers as (

    select * from {{ ref('dim_carrier') }}

),

shipments_aggregated as (

    select
        shipped_date,
        carrier_id,
        destination_state,
        count(*) as shipments,
        sum(case when is_delivered then 1 else 0 end) as delivered,
        sum(case when is_on_time then 1 else 0 end) as on_time,
        -- days_late is null while in transit: summed over the delivered shipments
        coalesce(sum(days_late), 0) as days_late_total,
        sum(case when is_bad_weather then 1 else 0 end) as bad_weather_shipments

    from shipments
    group by shipped_date, carrier_id, destination_state

),

final as (

    select
        -- grain
        shipments_aggregated.shipped_date,
        shipments_aggregated.carrier_id,
        shipments_aggregated.destination_state,

        -- attributes
        carriers.carrier_name,

        -- counts
        cast(shipments_aggregated.shipments as bigint) as shipments,
        cast(shipments_aggregated.delivered as bigint) as delivered,
        cast(shipments_aggregated.on_time as bigint) as on_time,
        cast(shipments_aggregated.bad_weather_shipments as bigint) as bad_weather_shipments,
        cast(shipments_aggregated.days_late_total as bigint) as days_late_total,

        -- rates (from the counts above, rounded half-up: re-aggregate as sum / sum)
        {{ safe_ratio(
            'shipments_aggregated.on_time', 'shipments_aggregated.delivered', 4, 10
        ) }} as on_time_rate,
        {{ safe_ratio(
            'shipments_aggregated.days_late_total', 'shipments_aggregated.delivered', 2, 10
        ) }} as avg_days_late,
        {{ safe_ratio(
            'shipments_aggregated.bad_weather_shipments', 'shipments_aggregated.shipments', 4, 10
        ) }} as bad_weather_share

    from shipments_aggregated
    left join carriers
        on shipments_aggregated.carrier_id = carriers.carrier_id

)

select * from final
