-- Developer notes (moved from the YAML description, which is written for BI users). Each line
-- joins its product version by primary key (no fan-out) and is then aggregated; totals reconcile
-- to fct_order_lines
-- (tests/reconciliation/assert_metrics_sales_reconcile_to_fct_order_lines.sql). Incremental:
-- each run recomputes whole the order days holding a line loaded in the last `lookback_days`
-- days before the newest loaded_at already in the table (delete+insert on ordered_date); a full
-- refresh gives the same table (tests/test_dbt_marts.py proves it). loaded_at is the latest
-- loaded_at of the group's lines in fct_order_lines.

{{
    config(
        materialized='incremental',
        unique_key='ordered_date',
        incremental_strategy=incremental_replace_strategy(),
        partition_by=incremental_replace_partitions('ordered_date'),
        on_schema_change='fail',
    )
}}

with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

{% if is_incremental() %}
    -- the order days holding a line loaded within the lookback window of the last run: each is
    -- recomputed whole (delete+insert on ordered_date; on Spark the day partition is overwritten)
    changed_days as (

        select distinct ordered_date
        from order_lines
        where loaded_at > {{ lookback_cutoff() }}

    ),
{% endif %}

-- one product version per line (join on the version's primary key: no fan-out)
lines_with_category as (

    select
        order_lines.ordered_date,
        products.category as product_category,
        -- a line whose order row was quarantined keeps its money under 'unattributed'
        coalesce(order_lines.channel, 'unattributed') as channel,
        order_lines.order_id,
        order_lines.quantity,
        order_lines.gross_revenue,
        order_lines.discount_amount,
        order_lines.net_revenue,
        order_lines.cost_of_goods,
        order_lines.gross_margin,
        order_lines.loaded_at

    from order_lines
    inner join products
        on order_lines.product_version_key = products.product_version_key
    {% if is_incremental() %}
        where order_lines.ordered_date in (select changed_days.ordered_date from changed_days)
    {% endif %}

),

final as (

    select
        -- grain
        ordered_date,
        product_category,
        channel,

        -- counts (orders: distinct within the row, NOT additive across categories or channels;
        -- metrics_daily_orders holds order counts that add up)
        count(distinct order_id) as orders,
        count(*) as lines,
        cast(sum(quantity) as bigint) as units,

        -- revenue (USD)
        cast(sum(gross_revenue) as decimal(18, 2)) as gross_revenue,
        cast(sum(discount_amount) as decimal(18, 2)) as discount,
        cast(sum(net_revenue) as decimal(18, 2)) as net_revenue,
        cast(sum(cost_of_goods) as decimal(18, 2)) as cost_of_goods,
        cast(sum(gross_margin) as decimal(18, 2)) as gross_margin,

        -- load metadata
        max(loaded_at) as loaded_at

    from lines_with_category
    group by ordered_date, product_category, channel

)

select * from final
