with

returns as (

    select * from {{ ref('fct_returns') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

aggregated as (

    select
        returns.requested_date,
        returns.reason,
        -- a return whose order line was quarantined at ingestion has no product: it is kept
        -- under 'unattributed', so the day's returns and refunds are whole
        coalesce(products.category, 'unattributed') as product_category,
        count(*) as returns,
        sum(returns.quantity) as returned_units,
        sum(case when returns.is_refunded then 1 else 0 end) as refunded_returns,
        sum(returns.refund_amount) as refund_amount

    from returns
    left join products
        on returns.product_version_key = products.product_version_key
    group by
        returns.requested_date,
        returns.reason,
        coalesce(products.category, 'unattributed')

),

final as (

    select
        -- grain
        requested_date,
        reason,
        product_category,

        -- counts and money (additive over every dimension: a return is in exactly one row)
        cast(returns as bigint) as returns,
        cast(returned_units as bigint) as returned_units,
        cast(refunded_returns as bigint) as refunded_returns,
        cast(refund_amount as decimal(18, 2)) as refund_amount,

        -- rate (re-aggregate as sum(refunded_returns) / sum(returns))
        {{ safe_ratio('refunded_returns', 'returns', 4, 10) }} as refunded_share

    from aggregated

)

select * from final
