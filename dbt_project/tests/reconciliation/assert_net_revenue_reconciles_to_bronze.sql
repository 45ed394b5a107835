{#- Net revenue is the same in fct_order_lines and computed straight from bronze (each order
    line's latest copy, whether or not its order has a usable version: an unattributed line keeps
    its money), and the same in fct_orders and in the attributed lines (those whose order has a
    usable version): returns a row when any two differ by more than a cent. In the `recent` scope (macros/data_tests_scope.sql)
    only the orders with an order or line copy among the recent loads are compared, all their
    lines and copies included. -#}
{%- set check_everything = data_tests_check_everything() %}

with

{% if not check_everything %}
    checked_orders as (

        select order_id from {{ source('bronze', 'orders') }}
        where _loaded_at >= {{ recent_loads_cutoff(source('bronze', 'orders')) }}
        union
        select order_id from {{ source('bronze', 'order_lines') }}
        where _loaded_at >= {{ recent_loads_cutoff(source('bronze', 'order_lines')) }}

    ),
{% endif %}

bronze_lines as (

    select
        order_line_id,
        order_id,
        quantity,
        unit_price,
        discount_amount,
        row_number() over (
            partition by order_line_id
            order by _loaded_at desc, _source_file desc, _source_line desc
        ) as copy_rank
    from {{ source('bronze', 'order_lines') }}
    where
        order_id is not null and product_id is not null and quantity is not null
        and unit_price is not null and discount_amount is not null
        {% if not check_everything %}
            and order_id in (select order_id from checked_orders)
        {% endif %}

),

bronze_orders as (

    select distinct order_id
    from {{ source('bronze', 'orders') }}
    where
        customer_id is not null and ordered_at is not null and channel is not null
        and status is not null and updated_at is not null
        {% if not check_everything %}
            and order_id in (select order_id from checked_orders)
        {% endif %}

),

fact_lines as (

    select * from {{ ref('fct_order_lines') }}
    {% if not check_everything %}
        where order_id in (select order_id from checked_orders)
    {% endif %}

),

fact_orders as (

    select * from {{ ref('fct_orders') }}
    {% if not check_everything %}
        where order_id in (select order_id from checked_orders)
    {% endif %}

),

totals as (

    select
        (
            select sum(cast(l.quantity as decimal(14, 2)) * cast(l.unit_price as decimal(14, 2))
                - cast(l.discount_amount as decimal(14, 2)))
            from bronze_lines as l
            where l.copy_rank = 1
        ) as bronze_net_revenue,
        (select sum(net_revenue) from fact_lines) as lines_net_revenue,
        (
            select sum(fact_lines.net_revenue) from fact_lines
            inner join bronze_orders on fact_lines.order_id = bronze_orders.order_id
        ) as attributed_net_revenue,
        (select sum(net_revenue) from fact_orders) as orders_net_revenue

)

select *
from totals
where
    abs(bronze_net_revenue - lines_net_revenue) > 0.01
    or abs(coalesce(attributed_net_revenue, 0) - coalesce(orders_net_revenue, 0)) > 0.01
    or bronze_net_revenue is null
