{#- Business rule: what a line's returns refund, together, is never more than the line paid
    (its net revenue). One row per order line refunded too much. -#}

with

returns as (

    select * from {{ ref('fct_returns') }}

),

lines as (

    select * from {{ ref('fct_order_lines') }}

),

refunded as (

    select
        order_line_id,
        sum(refund_amount) as refunded,
        count(*) as returns_count
    from returns
    group by order_line_id

),

over_refunded as (

    select
        refunded.order_line_id,
        refunded.refunded,
        refunded.returns_count,
        lines.net_revenue as paid
    from refunded
    inner join lines
        on refunded.order_line_id = lines.order_line_id
    where refunded.refunded > lines.net_revenue

)

select * from over_refunded
