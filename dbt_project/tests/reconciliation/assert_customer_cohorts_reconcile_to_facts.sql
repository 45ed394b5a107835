{#- metrics_customer_cohorts against the facts: the month-0 rows hold every customer of
    fct_orders exactly once (month-0 active customers and cohort sizes both equal the distinct
    customers), no cohort has more active customers than members, and orders and net revenue
    summed over all rows equal fct_orders and the attributed lines of fct_order_lines (nothing
    lost, nothing counted twice). -#}
with

cohorts as (

    select * from {{ ref('metrics_customer_cohorts') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

cohort_totals as (

    select
        sum(
            case when months_since_first_order = 0 then active_customers else 0 end
        ) as month_0_active_customers,
        sum(
            case when months_since_first_order = 0 then cohort_size else 0 end
        ) as month_0_cohort_size,
        sum(orders) as cohort_orders,
        sum(net_revenue) as cohort_net_revenue,
        sum(
            case
                when
                    active_customers > cohort_size
                    or (months_since_first_order = 0 and active_customers <> cohort_size)
                    then 1
                else 0
            end
        ) as impossible_rows

    from cohorts

),

order_totals as (

    select
        count(distinct customer_id) as fact_customers,
        count(*) as fact_orders

    from orders

),

line_totals as (

    select sum(net_revenue) as fact_net_revenue
    from order_lines
    -- an unattributed line (its order row quarantined) belongs to no customer
    where is_attributed

),

compared as (

    select
        cohort_totals.month_0_active_customers,
        cohort_totals.month_0_cohort_size,
        cohort_totals.cohort_orders,
        cohort_totals.cohort_net_revenue,
        cohort_totals.impossible_rows,
        order_totals.fact_customers,
        order_totals.fact_orders,
        line_totals.fact_net_revenue

    from cohort_totals
    cross join order_totals
    cross join line_totals

)

select *
from compared
where
    coalesce(month_0_active_customers, 0) <> fact_customers
    or coalesce(month_0_cohort_size, 0) <> fact_customers
    or coalesce(cohort_orders, 0) <> fact_orders
    or coalesce(cohort_net_revenue, 0) <> coalesce(fact_net_revenue, 0)
    or coalesce(impossible_rows, 0) > 0
