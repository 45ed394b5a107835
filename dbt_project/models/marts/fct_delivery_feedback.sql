with

feedback as (

    select * from {{ ref('stg_bronze__delivery_feedback') }}

),

-- one row per shipment already: reading the fact spares deduplicating bronze again
shipments as (

    select * from {{ ref('fct_shipments') }}

),

final as (

    select
        -- keys
        feedback.feedback_id,
        feedback.shipment_id,
        feedback.order_id,
        feedback.customer_id,
        shipments.carrier_id,
        shipments.facility_id,
        cast(feedback.submitted_at as date) as submitted_date,

        -- strings
        feedback.comment,

        -- numerics
        feedback.rating,

        -- timestamps
        feedback.submitted_at

    from feedback
    left join shipments
        on feedback.shipment_id = shipments.shipment_id

)

select * from final
