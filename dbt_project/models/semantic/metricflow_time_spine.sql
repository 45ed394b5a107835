{#- MetricFlow's daily time spine: the calendar of dim_date (itself built with the date_spine
    macro), reduced to the one column MetricFlow joins on. Declared as the project's time spine
    in _semantic_models.yml (`time_spine: standard_granularity_column: date_day`). -#}
with

calendar as (

    select * from {{ ref('dim_date') }}

),

final as (

    select date_day
    from calendar

)

select * from final
