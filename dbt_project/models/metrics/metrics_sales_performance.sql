-- Developer notes (moved from the YAML description, which is written for BI users). Each line
-- joins its product version by primary key (no fan-out) and is then aggregated; totals reconcile
-- to fct_order_lines
-- (tests/reconciliation/assert_metrics_sales_reconcile_to_fct_order_lines.sql). Incremental:
-- each run recomputes whole (delete+insert on ordered_date) the order days a load within the
-- last `lookback_days` days before the newest loaded_at already in the table can have changed:
-- the days of lines with a version loaded in the window, and, for each order whose first
-- version or a changed placing time or channel was loaded in the window (an order that
-- arrived after its lines, or was corrected), every day its versions and its lines' files name.
-- A new version that only moves an order's status changes none of these figures, so its
-- lines' days are not recomputed (they were about 240 of the year's days after every daily
-- load at scale 10; the lines' own loads name about 8). A full refresh gives the same table
-- (tests/test_dbt_marts.py proves it). loaded_at is the latest load of the group's lines' own
-- versions (stg_bronze__order_lines), not of their orders' versions.

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
    {%- set cutoff = lookback_cutoff() %}
    -- line versions loaded within the lookback window of the last run
    recent_lines as (

        select order_line_id
        from {{ ref('stg_bronze__order_lines') }}
        where loaded_at > {{ cutoff }}

    ),

    -- orders whose first version, or a new placing time or channel, was loaded in the window:
    -- their lines may have moved day or channel (every version of such an order is compared)
    recent_orders as (

        select distinct order_id
        from {{ source('bronze', 'orders') }}
        where _loaded_at > {{ cutoff }}

    ),

    reattributed_orders as (

        select order_id
        from {{ source('bronze', 'orders') }}
        where order_id in (select recent_orders.order_id from recent_orders)
        group by order_id
        having
            min(_loaded_at) > {{ cutoff }}
            or count(distinct coalesce(cast(ordered_at as {{ dbt.type_string() }}), '-'))
            > 1
            or count(distinct coalesce(cast(channel as {{ dbt.type_string() }}), '-')) > 1

    ),

    -- the order days each run recomputes whole (delete+insert on ordered_date; on Spark the
    -- day partition is overwritten): a day a changed line is on now, and every day it may have
    -- been on before (its order's former placing days, its file's day when unattributed)
    changed_days as (

        -- from the relation, not the CTE above: a CTE read twice is materialized whole by DuckDB
        select order_lines.ordered_date
        from {{ ref('fct_order_lines') }} as order_lines
        where
            order_lines.loaded_at > {{ cutoff }}
            and (
                order_lines.order_line_id in (select recent_lines.order_line_id from recent_lines)
                or order_lines.order_id
                in (select reattributed_orders.order_id from reattributed_orders)
            )
        union
        select cast(orders.ordered_at as date) as ordered_date
        from {{ source('bronze', 'orders') }} as orders
        where
            orders.order_id in (select reattributed_orders.order_id from reattributed_orders)
            and orders.ordered_at is not null
        union
        select cast(left(right(line_files.source_file, 14), 10) as date) as ordered_date
        from {{ ref('stg_bronze__order_lines') }} as line_files
        where
            line_files.order_id in (select reattributed_orders.order_id from reattributed_orders)

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
        -- the line's own version: a new version of its order (a status) changes no figure here
        line_versions.loaded_at

    from order_lines
    inner join products
        on order_lines.product_version_key = products.product_version_key
    inner join {{ ref('stg_bronze__order_lines') }} as line_versions
        on order_lines.order_line_id = line_versions.order_line_id
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
