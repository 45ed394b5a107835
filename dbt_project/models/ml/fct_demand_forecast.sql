with

forecast as (

    select * from {{ ref('stg_ml__demand_forecast') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

newest as (

    select max(ordered_date) as ordered_date
    from order_lines

),

actuals as (

    select
        order_lines.ordered_date,
        products.category,
        sum(order_lines.quantity) as units

    from order_lines
    inner join products on order_lines.product_version_key = products.product_version_key
    where order_lines.order_status != 'cancelled'
    group by order_lines.ordered_date, products.category

),

final as (

    select
        -- keys
        forecast.origin_date,
        forecast.forecast_date,
        forecast.category,
        forecast.horizon_days,

        -- numerics
        forecast.forecast_units,
        forecast.baseline_units,
        -- null until the day is past the newest loaded data; 0 for a past day with no orders
        case
            when forecast.forecast_date <= newest.ordered_date
                then cast(coalesce(actuals.units, 0) as decimal(18, 2))
        end as actual_units,

        -- lineage
        forecast.model_name,
        forecast.model_version,
        forecast.model_run_id,
        forecast.model_uri,
        forecast.scored_date

    from forecast
    cross join newest
    left join actuals
        on
            forecast.forecast_date = actuals.ordered_date
            and forecast.category = actuals.category

)

select * from final
