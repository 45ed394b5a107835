-- Developer notes (moved from the YAML description, which is written for BI users): lifetime
-- value is summed per order in fct_orders; an order without a line is not counted. Reads each
-- customer's orders already summed by month (int_customer_order_months, its sales_ columns: the
-- orders with a line), so a daily build does not group every order of the history again.

with

-- the months with at least one order with a line (sales)
sales_months as (

    select * from {{ ref('int_customer_order_months') }}
    where sales_orders > 0

),

customers as (

    select * from {{ ref('dim_customer') }}

),

customer_orders as (

    select
        customer_id,
        min(first_sale_date) as first_order_date,
        max(last_sale_date) as last_order_date,
        sum(sales_orders) as orders,
        sum(sales_net_revenue) as net_revenue

    from sales_months
    group by customer_id

),

newest_order as (

    select max(last_sale_date) as newest_order_date
    from sales_months

),

current_customers as (

    select
        customer_id,
        created_at
    from customers
    where is_current

),

with_recency as (

    select
        customer_orders.customer_id,
        customer_orders.first_order_date,
        customer_orders.last_order_date,
        customer_orders.orders,
        customer_orders.net_revenue,
        {{ days_between('customer_orders.last_order_date', 'newest_order.newest_order_date') }}
            as recency_days

    from customer_orders
    cross join newest_order

),

scored as (

    select
        customer_id,
        first_order_date,
        last_order_date,
        orders,
        net_revenue,
        recency_days,
        -- 5 = best quintile; customer_id breaks ties so the scores are deterministic
        ntile(5) over (order by recency_days desc, customer_id asc) as recency_score,
        ntile(5) over (order by orders asc, customer_id asc) as frequency_score,
        ntile(5) over (order by net_revenue asc, customer_id asc) as monetary_score

    from with_recency

),

final as (

    select
        -- grain
        scored.customer_id,

        -- dates
        cast(
            date_trunc('month', current_customers.created_at) as date
        ) as signup_cohort_month,
        scored.first_order_date,
        scored.last_order_date,

        -- numerics
        cast(scored.orders as bigint) as orders,
        cast(scored.net_revenue as decimal(18, 2)) as net_revenue,
        cast(scored.recency_days as integer) as recency_days,

        -- rfm scores (1-5)
        cast(scored.recency_score as integer) as recency_score,
        cast(scored.frequency_score as integer) as frequency_score,
        cast(scored.monetary_score as integer) as monetary_score

    from scored
    left join current_customers
        on scored.customer_id = current_customers.customer_id

)

select * from final
