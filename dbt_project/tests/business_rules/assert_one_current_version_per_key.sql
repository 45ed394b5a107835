{#- Business rule: every product and customer has exactly one current version in its SCD2 dim
    (is_current, valid_to 9999-12-31); none means the key vanished, two mean overlapping history
    and a point-in-time join that fans out. "Today's attributes" are `where is_current` on the
    dims, so this rule is what makes that filter give one row per key. The intermediate models
    the dims are built from carry the same rule as a generic test (exactly_one_current_row). -#}

with

products as (

    select
        'dim_product' as dim_name,
        product_id as key_id,
        sum(case when is_current then 1 else 0 end) as current_versions
    from {{ ref('dim_product') }}
    group by product_id

),

customers as (

    select
        'dim_customer' as dim_name,
        customer_id as key_id,
        sum(case when is_current then 1 else 0 end) as current_versions
    from {{ ref('dim_customer') }}
    group by customer_id

),

all_keys as (

    select * from products
    union all
    select * from customers

),

not_one_current as (

    select * from all_keys
    where current_versions <> 1

)

select * from not_one_current
