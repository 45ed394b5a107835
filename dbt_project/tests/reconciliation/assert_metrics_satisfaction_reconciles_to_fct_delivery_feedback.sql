{#- metrics_customer_satisfaction against fct_delivery_feedback: ratings, their total and the
    4-5 and 1-2 star counts summed over every row equal the fact's (feedback whose shipment was
    quarantined included, under 'unattributed'), and no row holds more 4-5 star ratings than
    ratings. -#}
with

satisfaction as (

    select * from {{ ref('metrics_customer_satisfaction') }}

),

feedback as (

    select * from {{ ref('fct_delivery_feedback') }}

),

metric_totals as (

    select
        sum(ratings) as ratings,
        sum(rating_total) as rating_total,
        sum(ratings_4_5) as ratings_4_5,
        sum(ratings_1_2) as ratings_1_2,
        sum(case when ratings_4_5 + ratings_1_2 > ratings then 1 else 0 end) as impossible_rows

    from satisfaction

),

fact_totals as (

    select
        count(rating) as ratings,
        sum(rating) as rating_total,
        sum(case when rating >= 4 then 1 else 0 end) as ratings_4_5,
        sum(case when rating <= 2 then 1 else 0 end) as ratings_1_2

    from feedback

)

select
    metric_totals.ratings,
    fact_totals.ratings as fact_ratings,
    metric_totals.rating_total,
    fact_totals.rating_total as fact_rating_total

from metric_totals
cross join fact_totals
where
    coalesce(metric_totals.ratings, 0) <> fact_totals.ratings
    or coalesce(metric_totals.rating_total, 0) <> coalesce(fact_totals.rating_total, 0)
    or coalesce(metric_totals.ratings_4_5, 0) <> coalesce(fact_totals.ratings_4_5, 0)
    or coalesce(metric_totals.ratings_1_2, 0) <> coalesce(fact_totals.ratings_1_2, 0)
    or coalesce(metric_totals.impossible_rows, 0) > 0
