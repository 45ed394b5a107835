-- Developer notes (moved from the YAML description, which is written for BI users). Separate
-- from metrics_customer_analytics, whose grain is one row per customer: a cohort x month grain
-- cannot live in that model without fanning it out. Reconciled to fct_orders and fct_order_lines
-- (tests/reconciliation/assert_customer_cohorts_reconcile_to_facts.sql). Reads each customer's
-- orders already summed by month (int_customer_order_months, kept up to date by customer), so a
-- daily build does not group every order of the history again.

with

-- one row per customer and calendar month with at least one order
customer_months as (

    select
        customer_id,
        activity_month,
        orders,
        net_revenue,
        last_order_date

    from {{ ref('int_customer_order_months') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

-- a customer's cohort is the month of their first order
first_months as (

    select
        customer_id,
        min(activity_month) as cohort_month

    from customer_months
    group by customer_id

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_size

    from first_months
    group by cohort_month

),

newest_order as (

    select max(last_order_date) as newest_order_date
    from customer_months

),

-- every calendar month up to the month of the newest order in the data
calendar_months as (

    select distinct cast(date_trunc('month', calendar.date_day) as date) as activity_month
    from calendar
    inner join newest_order
        on calendar.date_day <= newest_order.newest_order_date

),

-- aggregated to cohort x month before the join, so nothing fans out
cohort_activity as (

    select
        first_months.cohort_month,
        customer_months.activity_month,
        count(*) as active_customers,
        sum(customer_months.orders) as orders,
        sum(customer_months.net_revenue) as net_revenue

    from customer_months
    inner join first_months
        on customer_months.customer_id = first_months.customer_id
    group by first_months.cohort_month, customer_months.activity_month

),

-- each cohort x every month from its first on, months without any activity included
cohort_grid as (

    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_size,
        calendar_months.activity_month

    from cohort_sizes
    inner join calendar_months
        on cohort_sizes.cohort_month <= calendar_months.activity_month

),

final as (

    select
        -- grain
        cohort_grid.cohort_month,
        cast(
            (
                extract(year from cohort_grid.activity_month)
                - extract(year from cohort_grid.cohort_month)
            ) * 12
            + extract(month from cohort_grid.activity_month)
            - extract(month from cohort_grid.cohort_month)
            as integer
        ) as months_since_first_order,

        -- dates
        cohort_grid.activity_month,

        -- counts
        cast(cohort_grid.cohort_size as bigint) as cohort_size,
        cast(coalesce(cohort_activity.active_customers, 0) as bigint) as active_customers,
        cast(coalesce(cohort_activity.orders, 0) as bigint) as orders,

        -- rates
        {{ safe_ratio(
            'coalesce(cohort_activity.active_customers, 0)', 'cohort_grid.cohort_size', 4, 10
        ) }} as retention_rate,

        -- revenue (USD)
        cast(coalesce(cohort_activity.net_revenue, 0) as decimal(18, 2)) as net_revenue

    from cohort_grid
    left join cohort_activity
        on
            cohort_grid.cohort_month = cohort_activity.cohort_month
            and cohort_grid.activity_month = cohort_activity.activity_month

)

select * from final
