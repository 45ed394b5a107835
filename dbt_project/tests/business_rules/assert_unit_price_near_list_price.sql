{#- Business rule, error level: a line's unit price is within a factor
    `unit_price_error_factor` (2 by default) of its product's list price valid when the order
    was placed. Beyond it the price is not a late price change but a wrong one: cents read as
    dollars (x100), another product's price. Smaller gaps are the warning of
    assert_unit_price_is_list_price. -#}
{%- set factor = var('unit_price_error_factor', 2) %}

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
        products.list_price
    from lines
    inner join products
        on
            lines.product_id = products.product_id
            and lines.ordered_at >= products.valid_from
            and lines.ordered_at < products.valid_to

),

wrong_price as (

    select
        order_line_id,
        product_id,
        ordered_at,
        unit_price,
        list_price
    from priced
    where
        unit_price > {{ factor }} * list_price
        or unit_price * {{ factor }} < list_price

)

select * from wrong_price
