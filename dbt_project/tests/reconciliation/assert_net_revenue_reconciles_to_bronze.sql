{#- Net revenue is the same in fct_order_lines, in fct_orders and computed straight from bronze
    (each order line's latest copy, kept only when its order has a usable version): returns a
    row when any two differ by more than a cent. -#}
with

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

),

bronze_orders as (

    select distinct order_id
    from {{ source('bronze', 'orders') }}
    where
        customer_id is not null and ordered_at is not null and channel is not null
        and status is not null and updated_at is not null

),

totals as (

    select
        (
            select sum(cast(l.quantity as decimal(14, 2)) * cast(l.unit_price as decimal(14, 2))
                - cast(l.discount_amount as decimal(14, 2)))
            from bronze_lines as l
            inner join bronze_orders as o on l.order_id = o.order_id
            where l.copy_rank = 1
        ) as bronze_net_revenue,
        (select sum(net_revenue) from {{ ref('fct_order_lines') }}) as lines_net_revenue,
        (select sum(net_revenue) from {{ ref('fct_orders') }}) as orders_net_revenue

)

select *
from totals
where
    abs(bronze_net_revenue - lines_net_revenue) > 0.01
    or abs(lines_net_revenue - orders_net_revenue) > 0.01
    or bronze_net_revenue is null
