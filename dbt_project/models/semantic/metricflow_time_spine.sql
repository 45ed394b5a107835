{#- MetricFlow's daily time spine: the calendar of dim_date (itself built with the date_spine
    macro) up to the last day on which anything happened (an order placed, a parcel shipped or
    delivered, a return requested, a lot inspected, waste recorded, feedback given), reduced to the
    one column MetricFlow joins on. dim_date runs on to the latest promised delivery day; the
    spine stops at the data, so cumulative metrics (which MetricFlow computes over the spine) end
    on the last day with data instead of repeating their total over days not yet lived. Declared
    as the project's time spine in _semantic_models.yml. -#}
with

calendar as (

    select * from {{ ref('dim_date') }}

),

-- the newest day of each event: a plain max over the fact tables
last_event_days as (

    select max(ordered_date) as event_date from {{ ref('fct_orders') }}
    union all
    select max(shipped_date) as event_date from {{ ref('fct_shipments') }}
    union all
    select max(delivered_date) as event_date from {{ ref('fct_shipments') }}
    union all
    select max(requested_date) as event_date from {{ ref('fct_returns') }}
    union all
    select max(inspected_date) as event_date from {{ ref('fct_quality_inspections') }}
    union all
    select max(recorded_date) as event_date from {{ ref('fct_waste_events') }}
    union all
    select max(submitted_date) as event_date from {{ ref('fct_delivery_feedback') }}

),

data_end as (

    select max(event_date) as last_date
    from last_event_days

),

final as (

    select calendar.date_day
    from calendar
    inner join data_end
        on calendar.date_day <= data_end.last_date

)

select * from final
