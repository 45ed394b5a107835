with

waste_events as (

    select * from {{ ref('fct_waste_events') }}

),

inspections as (

    select * from {{ ref('fct_quality_inspections') }}

),

production as (

    select
        facility_id,
        inspected_date as activity_date,
        sum(lot_size) as units_produced

    from inspections
    group by facility_id, inspected_date

),

waste_aggregated as (

    select
        facility_id,
        recorded_date as activity_date,
        count(*) as waste_events,
        sum(quantity_kg) as waste_kg,
        sum(cost) as waste_cost

    from waste_events
    group by facility_id, recorded_date

),

-- every facility and day with production or waste
facility_days as (

    select
        facility_id,
        activity_date
    from production
    union
    select
        facility_id,
        activity_date
    from waste_aggregated

),

final as (

    select
        -- grain
        facility_days.activity_date,
        facility_days.facility_id,

        -- numerics (additive over days and facilities)
        cast(coalesce(waste_aggregated.waste_events, 0) as bigint) as waste_events,
        cast(coalesce(waste_aggregated.waste_kg, 0) as decimal(18, 3)) as waste_kg,
        cast(coalesce(waste_aggregated.waste_cost, 0) as decimal(18, 2)) as waste_cost,
        cast(coalesce(production.units_produced, 0) as bigint) as units_produced,

        -- rate (from the sums above, rounded half-up: re-aggregate as sum / sum)
        {{ safe_ratio(
            'coalesce(waste_aggregated.waste_kg, 0)', 'production.units_produced', 6, 18
        ) }} as waste_kg_per_unit_produced

    from facility_days
    left join production
        on
            facility_days.facility_id = production.facility_id
            and facility_days.activity_date = production.activity_date
    left join waste_aggregated
        on
            facility_days.facility_id = waste_aggregated.facility_id
            and facility_days.activity_date = waste_aggregated.activity_date

)

select * from final
