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
        avg(case when is_delivered then days_late end) as avg_days_late,
        sum(
            case when destination_weather_condition in ('rain', 'snow', 'storm') then 1 else 0 end
        ) as bad_weather_shipments

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

        -- rates
        cast(
            case
                when shipments_aggregated.delivered > 0
                    then 1.0 * shipments_aggregated.on_time / shipments_aggregated.delivered
            end as decimal(10, 4)
        ) as on_time_rate,
        cast(shipments_aggregated.avg_days_late as decimal(10, 2)) as avg_days_late,
        cast(
            1.0 * shipments_aggregated.bad_weather_shipments / shipments_aggregated.shipments
            as decimal(10, 4)
        ) as bad_weather_share

    from shipments_aggregated
    left join carriers
        on shipments_aggregated.carrier_id = carriers.carrier_id

)

select * from final
