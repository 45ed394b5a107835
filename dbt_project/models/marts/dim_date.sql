with

bounds as (

    select
        min(event_date) as first_date,
        max(event_date) as last_date

    from (
        select cast(ordered_at as date) as event_date from {{ ref('stg_bronze__orders') }}
        union all
        select cast(shipped_at as date) as event_date from {{ ref('stg_bronze__shipments') }}
        union all
        select cast(promised_at as date) as event_date from {{ ref('stg_bronze__shipments') }}
        union all
        select cast(delivered_at as date) as event_date from {{ ref('stg_bronze__shipments') }}
        union all
        select cast(requested_at as date) as event_date from {{ ref('stg_bronze__returns') }}
        union all
        select cast(inspected_at as date) as event_date
        from {{ ref('stg_bronze__quality_inspections') }}
        union all
        select cast(recorded_at as date) as event_date from {{ ref('stg_bronze__waste_events') }}
        union all
        select cast(submitted_at as date) as event_date
        from {{ ref('stg_bronze__delivery_feedback') }}
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
