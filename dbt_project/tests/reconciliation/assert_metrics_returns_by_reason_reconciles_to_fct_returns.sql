{#- metrics_returns_by_reason against fct_returns: returns, returned units, refunded returns and
    refunds summed over every row equal the fact's, per reason (returns whose order line was
    quarantined included, under 'unattributed'): nothing lost, nothing counted twice. -#}
with

by_reason as (

    select * from {{ ref('metrics_returns_by_reason') }}

),

returns as (

    select * from {{ ref('fct_returns') }}

),

metric_totals as (

    select
        reason,
        sum(returns) as returns,
        sum(returned_units) as returned_units,
        sum(refunded_returns) as refunded_returns,
        sum(refund_amount) as refund_amount

    from by_reason
    group by reason

),

fact_totals as (

    select
        reason,
        count(*) as returns,
        sum(quantity) as returned_units,
        sum(case when is_refunded then 1 else 0 end) as refunded_returns,
        sum(refund_amount) as refund_amount

    from returns
    group by reason

)

select
    coalesce(metric_totals.reason, fact_totals.reason) as reason,
    metric_totals.returns,
    fact_totals.returns as fact_returns,
    metric_totals.refund_amount,
    fact_totals.refund_amount as fact_refund_amount

from metric_totals
full outer join fact_totals
    on metric_totals.reason = fact_totals.reason
where
    metric_totals.reason is null
    or fact_totals.reason is null
    or metric_totals.returns <> fact_totals.returns
    or metric_totals.returned_units <> fact_totals.returned_units
    or metric_totals.refunded_returns <> fact_totals.refunded_returns
    or metric_totals.refund_amount <> fact_totals.refund_amount
