{#- Refunds and returned units in fct_returns equal those of staging returns (one row per
    return, no fan-out through the order line join). -#}
with

totals as (

    select
        (select sum(refund_amount) from {{ ref('stg_bronze__returns') }}) as staged_refunds,
        (select sum(refund_amount) from {{ ref('fct_returns') }}) as fact_refunds,
        (select sum(quantity) from {{ ref('stg_bronze__returns') }}) as staged_units,
        (select sum(quantity) from {{ ref('fct_returns') }}) as fact_units

)

select *
from totals
where
    coalesce(staged_refunds, 0) <> coalesce(fact_refunds, 0)
    or coalesce(staged_units, 0) <> coalesce(fact_units, 0)
