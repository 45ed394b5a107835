{#- Business rule: every product and customer has exactly one current version in the dbt
    snapshots (dbt_valid_to is null); none means the key vanished, two mean overlapping
    history. The dims and staging versions carry the same rule (exactly_one_current_row). The
    local Spark target builds no snapshots (dbt_project.yml), so neither this test. -#}
{{ config(enabled=target.type != 'spark') }}

with

products as (

    select
        'products_snapshot' as snapshot_name,
        product_id as key_id,
        sum(case when dbt_valid_to is null then 1 else 0 end) as current_versions
    from {{ ref('products_snapshot') }}
    group by product_id

),

customers as (

    select
        'customers_snapshot' as snapshot_name,
        customer_id as key_id,
        sum(case when dbt_valid_to is null then 1 else 0 end) as current_versions
    from {{ ref('customers_snapshot') }}
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
