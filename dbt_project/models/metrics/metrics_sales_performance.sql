with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

-- one product version per line (join on the version's primary key: no fan-out)
lines_with_category as (

    select
        order_lines.ordered_date,
        products.category as product_category,
        order_lines.channel,
        order_lines.order_id,
        order_lines.quantity,
        order_lines.gross_revenue,
        order_lines.discount_amount,
        order_lines.net_revenue

    from order_lines
    inner join products
        on order_lines.product_version_key = products.product_version_key

),

final as (

    select
        -- grain
        ordered_date,
        product_category,
        channel,

        -- counts
        count(distinct order_id) as orders,
        count(*) as lines,
        cast(sum(quantity) as bigint) as units,

        -- revenue (USD)
        cast(sum(gross_revenue) as decimal(18, 2)) as gross_revenue,
        cast(sum(discount_amount) as decimal(18, 2)) as discount,
        cast(sum(net_revenue) as decimal(18, 2)) as net_revenue

    from lines_with_category
    group by ordered_date, product_category, channel

)

select * from final
