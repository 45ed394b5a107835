-- Developer notes (moved from the YAML description, which is written for BI users): production
-- (sum of lot_size in fct_quality_inspections) is aggregated to facility x day before it joins
-- the waste aggregate, so it is never multiplied by waste rows.

with

waste_events as (

    select * from {{ ref('fct_waste_events') }}

),

inspections as (

    select * from {{ ref('fct_quality_inspections') }}

),

-- production of a facility and day, aggregated before any join to waste rows
production as (

    select
        facility_id,
        inspected_date as produced_date,
        sum(lot_size) as units_produced

    from inspections
    group by facility_id, inspected_date

),

waste_aggregated as (

    select
        recorded_date,
        facility_id,
        disposal_method,
        count(*) as waste_events,
        sum(quantity_kg) as waste_kg,
        sum(cost) as waste_cost

    from waste_events
    group by recorded_date, facility_id, disposal_method

),

final as (

    select
        -- grain
        waste_aggregated.recorded_date,
        waste_aggregated.facility_id,
        waste_aggregated.disposal_method,

        -- numerics
        cast(waste_aggregated.waste_events as bigint) as waste_events,
        cast(waste_aggregated.waste_kg as decimal(18, 3)) as waste_kg,
        cast(waste_aggregated.waste_cost as decimal(18, 2)) as waste_cost,
        -- the facility-day's production, repeated on each disposal method's row: not additive
        -- across disposal methods (metrics_sustainability_daily holds it once per facility-day)
        cast(coalesce(production.units_produced, 0) as bigint) as units_produced,
        -- the ratio of this disposal method's waste to the facility-day's production
        {{ safe_ratio('waste_aggregated.waste_kg', 'production.units_produced', 6, 18) }}
            as waste_kg_per_unit_produced

    from waste_aggregated
    left join production
        on
            waste_aggregated.facility_id = production.facility_id
            and waste_aggregated.recorded_date = production.produced_date

)

select * from final
