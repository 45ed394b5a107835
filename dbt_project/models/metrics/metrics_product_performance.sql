-- Developer notes (moved from the YAML description, which is written for BI users): sales (by
-- order month) and returns (by request month) are aggregated separately and joined on product
-- and month. A return whose order line is not in fct_order_lines (its row quarantined at
-- ingestion or left out by staging) has no product and is not counted; fct_returns keeps it and
-- its not_null tests warn.

with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

returns as (

    select * from {{ ref('fct_returns') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

sales_aggregated as (

    select
        product_id,
        cast(date_trunc('month', ordered_date) as date) as month_start,
        sum(quantity) as units,
        sum(net_revenue) as net_revenue

    from order_lines
    group by product_id, cast(date_trunc('month', ordered_date) as date)

),

returns_aggregated as (

    select
        product_id,
        cast(date_trunc('month', requested_date) as date) as month_start,
        count(*) as returns,
        sum(quantity) as returned_units,
        sum(refund_amount) as refunds

    from returns
    -- a return whose order line is not in the warehouse has no product: fct_returns keeps it
    where product_id is not null
    group by product_id, cast(date_trunc('month', requested_date) as date)

),

-- every product and month with a sale or a return
product_months as (

    select
        product_id,
        month_start
    from sales_aggregated
    union
    select
        product_id,
        month_start
    from returns_aggregated

),

current_products as (

    select
        product_id,
        product_name,
        category
    from products
    where is_current

),

final as (

    select
        -- grain
        product_months.product_id,
        product_months.month_start,

        -- attributes (current version)
        current_products.product_name,
        current_products.category as product_category,

        -- numerics
        cast(coalesce(sales_aggregated.units, 0) as bigint) as units,
        cast(coalesce(sales_aggregated.net_revenue, 0) as decimal(18, 2)) as net_revenue,
        cast(coalesce(returns_aggregated.returns, 0) as bigint) as returns,
        cast(coalesce(returns_aggregated.returned_units, 0) as bigint) as returned_units,
        cast(coalesce(returns_aggregated.refunds, 0) as decimal(18, 2)) as refunds,
        {{ safe_ratio(
            'coalesce(returns_aggregated.returned_units, 0)', 'sales_aggregated.units', 4, 10
        ) }} as return_rate

    from product_months
    left join sales_aggregated
        on
            product_months.product_id = sales_aggregated.product_id
            and product_months.month_start = sales_aggregated.month_start
    left join returns_aggregated
        on
            product_months.product_id = returns_aggregated.product_id
            and product_months.month_start = returns_aggregated.month_start
    left join current_products
        on product_months.product_id = current_products.product_id

)

select * from final
