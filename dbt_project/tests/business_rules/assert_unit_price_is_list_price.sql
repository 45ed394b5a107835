{#- Business rule (data contract, order_lines): a line's unit price IS its product's list price
    valid when the order was placed (dim_product's versions, valid_from <= ordered_at <
    valid_to). A line off by more than `unit_price_tolerance` (a share of the list price, 0.5%
    by default) fails as a warning: a price change loaded late, a rounding rule. The gross
    mix-ups (cents read as dollars, a price of another product) fail as an error in
    assert_unit_price_near_list_price. One row per line off, with both prices. -#}
{{ config(severity='warn') }}

{%- set tolerance = var('unit_price_tolerance', 0.005) %}

with

lines as (

    select * from {{ ref('fct_order_lines') }}
    {% if not data_tests_check_everything() %}
        where loaded_at >= {{ recent_loads_cutoff(ref('fct_order_lines'), 'loaded_at') }}
    {% endif %}

),

products as (

    select * from {{ ref('dim_product') }}

),

priced as (

    select
        lines.order_line_id,
        lines.product_id,
        lines.ordered_at,
        lines.unit_price,
        products.list_price,
        products.valid_from as price_valid_from
    from lines
    inner join products
        on
            lines.product_id = products.product_id
            and lines.ordered_at >= products.valid_from
            and lines.ordered_at < products.valid_to

),

off_price as (

    select
        order_line_id,
        product_id,
        ordered_at,
        unit_price,
        list_price,
        price_valid_from,
        unit_price / nullif(list_price, 0) as price_ratio
    from priced
    where abs(unit_price - list_price) > {{ tolerance }} * list_price

)

select * from off_price
