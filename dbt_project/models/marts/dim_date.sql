-- Developer notes (moved from the YAML description, which is written for BI users): the date
-- range is read from the facts themselves (and staged weather).

with

-- the facts are tables holding one row per event already: their dates are a plain column
-- scan, where the staging views would deduplicate their whole table again for a min and max
bounds as (

    select
        min(event_date) as first_date,
        max(event_date) as last_date

    from (
        select ordered_date as event_date from {{ ref('fct_orders') }}
        union all
        select shipped_date as event_date from {{ ref('fct_shipments') }}
        union all
        select promised_date as event_date from {{ ref('fct_shipments') }}
        union all
        select delivered_date as event_date from {{ ref('fct_shipments') }}
        union all
        select requested_date as event_date from {{ ref('fct_returns') }}
        union all
        select inspected_date as event_date from {{ ref('fct_quality_inspections') }}
        union all
        select recorded_date as event_date from {{ ref('fct_waste_events') }}
        union all
        select submitted_date as event_date from {{ ref('fct_delivery_feedback') }}
        union all
        select weather_date as event_date from {{ ref('stg_bronze__weather_daily') }}
    ) as event_dates

),

spine as (

    {{ date_spine(
        'select first_date from bounds',
        'select last_date from bounds'
    ) }}

),

enriched as (

    select
        -- keys
        date_day,

        -- calendar parts
        {{ iso_day_of_week('date_day') }} as day_of_week,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast(extract(week from date_day) as integer) as week_of_year,
        cast(extract(month from date_day) as integer) as month_of_year,
        cast(extract(quarter from date_day) as integer) as quarter_of_year,
        cast(extract(year from date_day) as integer) as calendar_year,

        -- flags
        {{ iso_day_of_week('date_day') }} in (6, 7) as is_weekend

    from spine

)

select * from enriched
