with

feedback as (

    select * from {{ ref('fct_delivery_feedback') }}

),

carriers as (

    select * from {{ ref('dim_carrier') }}

),

aggregated as (

    select
        feedback.submitted_date,
        -- feedback whose shipment row was quarantined at ingestion has no carrier: it is kept
        -- under 'unattributed', so the day's totals still hold every rating
        coalesce(carriers.carrier_name, 'unattributed') as carrier_name,
        count(feedback.rating) as ratings,
        sum(feedback.rating) as rating_total,
        sum(case when feedback.rating >= 4 then 1 else 0 end) as ratings_4_5,
        sum(case when feedback.rating <= 2 then 1 else 0 end) as ratings_1_2

    from feedback
    left join carriers
        on feedback.carrier_id = carriers.carrier_id
    group by feedback.submitted_date, coalesce(carriers.carrier_name, 'unattributed')

),

final as (

    select
        -- grain
        submitted_date,
        carrier_name,

        -- counts (additive over every dimension)
        cast(ratings as bigint) as ratings,
        cast(rating_total as bigint) as rating_total,
        cast(ratings_4_5 as bigint) as ratings_4_5,
        cast(ratings_1_2 as bigint) as ratings_1_2,

        -- rates (from the counts above, rounded half-up: re-aggregate as sum / sum)
        {{ safe_ratio('rating_total', 'ratings', 2, 10) }} as avg_rating,
        {{ safe_ratio('ratings_4_5', 'ratings', 4, 10) }} as share_4_5_stars

    from aggregated

)

select * from final
