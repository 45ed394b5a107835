with

scores as (

    select * from {{ ref('stg_ml__delivery_risk_scores') }}

),

shipments as (

    select * from {{ ref('fct_shipments') }}

),

final as (

    select
        -- keys
        scores.shipment_id,
        shipments.order_id,
        shipments.carrier_id,
        shipments.facility_id,
        scores.shipped_date,

        -- scores
        scores.late_probability,
        case
            when scores.late_probability >= 0.5 then 'high'
            when scores.late_probability >= 0.2 then 'medium'
            else 'low'
        end as risk_band,

        -- outcome, once known
        shipments.is_on_time,
        shipments.days_late,

        -- lineage
        scores.model_name,
        scores.model_version,
        scores.model_run_id,
        scores.model_uri,
        scores.scored_date

    from scores
    inner join shipments on scores.shipment_id = shipments.shipment_id

)

select * from final
