{#- Business rule: what a line's returns refund, together, is never more than the line paid
    (its net revenue). One row per order line refunded too much. In the `recent` scope
    (macros/data_tests_scope.sql) the lines with a return or a line version loaded within
    `lookback_days` of the newest load, each with every one of its returns. -#}

with

returns as (

    select * from {{ ref('fct_returns') }}
    {% if not data_tests_check_everything() %}
        where order_line_id in (
            select recent_returns.order_line_id
            from {{ ref('fct_returns') }} as recent_returns
            where
                recent_returns.loaded_at
                >= {{ recent_loads_cutoff(ref('fct_returns'), 'loaded_at') }}
            union
            select recent_lines.order_line_id
            from {{ ref('fct_order_lines') }} as recent_lines
            where
                recent_lines.loaded_at
                >= {{ recent_loads_cutoff(ref('fct_order_lines'), 'loaded_at') }}
        )
    {% endif %}

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
