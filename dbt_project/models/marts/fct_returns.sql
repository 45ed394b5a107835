with

returns as (

    select * from {{ ref('stg_bronze__returns') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

final as (

    select
        -- keys
        returns.return_id,
        returns.order_line_id,
        order_lines.order_id,
        order_lines.customer_id,
        order_lines.product_id,
        order_lines.product_version_key,
        cast(returns.requested_at as date) as requested_date,

        -- strings
        returns.reason,
        returns.status as return_status,

        -- numerics
        returns.quantity,
        returns.refund_amount,

        -- flags
        returns.status = 'refunded' as is_refunded,

        -- timestamps
        returns.requested_at

    from returns
    left join order_lines
        on returns.order_line_id = order_lines.order_line_id

)

select * from final
