{#- BigQuery's side of every concept that differs per engine, in one file (the concept, its
    default and the other engines live in the file named after it; adapter.dispatch finds these
    by name). Tested by dbt parse and compile only (tests/test_dbt_targets.py): nothing here has
    run on BigQuery itself. -#}


{#- hash_pii.sql. BigQuery's trim() without characters removes every Unicode space, and lower()
    folds every letter: trim spaces (U+0020) only, and lower() ASCII text only (as many bytes as
    characters), as on Spark. -#}
{% macro bigquery__normalize_pii(column) -%}
    {%- set text = 'cast(' ~ column ~ ' as string)' -%}
    trim(case when byte_length({{ text }}) = char_length({{ text }}) then lower({{ text }}) else {{ translate_a_to_z(text) }} end, ' ')
{%- endmacro %}

{#- hash_pii.sql. sha256() takes and returns BYTES; cast(string as bytes) is its UTF-8; to_hex()
    writes lower-case hex -#}
{% macro bigquery__hmac_sha256_hex(message, inner_pad, outer_pad) -%}
    to_hex(sha256(from_hex('{{ outer_pad }}') || sha256(from_hex('{{ inner_pad }}') || cast({{ message }} as bytes))))
{%- endmacro %}


{#- grants.sql. BigQuery grants IAM roles to IAM principals, on the table itself (no USAGE on a
    dataset is needed to read a table shared this way):
        grant `roles/bigquery.dataViewer` on table `project`.marts.fct_orders to "group:bi@example.com"
    The project's `select` grant becomes roles/bigquery.dataViewer (read the rows and the
    table's metadata); any other privilege is taken as a role name as written. The grantee,
    WAREHOUSE_READER_ROLE, must then be a principal (user:, group:, serviceAccount:, domain:);
    the default analytics_reader is not one, and the build says so before BigQuery does. -#}
{% macro bigquery__apply_grants(relation, grant_config, should_revoke=True) -%}
    {%- set roles = {} -%}
    {%- for privilege, grantees in (grant_config or {}).items() -%}
        {%- set role = 'roles/bigquery.dataViewer' if privilege | lower == 'select' else privilege -%}
        {%- for grantee in grantees if ':' not in grantee -%}
            {{ exceptions.raise_compiler_error(
                "dbt_project.yml grants " ~ relation ~ " to '" ~ grantee ~ "', which is not a "
                ~ "BigQuery principal: set WAREHOUSE_READER_ROLE to one, e.g. "
                ~ "group:analysts@example.com (or user:, serviceAccount:, domain:)") }}
        {%- endfor -%}
        {%- do roles.update({role: roles.get(role, []) + grantees}) -%}
    {%- endfor -%}
    {{ return(default__apply_grants(relation, roles, should_revoke)) }}
{%- endmacro %}


{#- incremental_replace.sql. dbt-bigquery has no delete+insert: `merge` on the model's
    unique_key updates the changed rows and inserts the new ones, which is the same result, the
    rows re-read being unique per key (the facts' primary-key tests). No partitions needed. -#}
{% macro bigquery__incremental_replace_strategy() -%}
    {{ return('merge') }}
{%- endmacro %}


{#- incremental_staging.sql. The staging models name `delete+insert`, which dbt-bigquery refuses
    (it has merge and insert_overwrite): they stay views here, as on Spark, and deduplicate on
    read. -#}
{% macro bigquery__staging_materialization() -%}
    {{ return('view') }}
{%- endmacro %}


{#- incremental_staging.sql. A model rebuilt by key (dim_customer: several rows per key) would
    need delete+insert, which dbt-bigquery refuses (merge updates one row per key): a table
    rebuilt whole, as on Spark. -#}
{% macro bigquery__keyed_materialization() -%}
    {{ return('table') }}
{%- endmacro %}


{#- iso_day_of_week.sql. extract(dayofweek) is 1 = Sunday ... 7 = Saturday -#}
{% macro bigquery__iso_day_of_week(date_expr) -%}
    mod(extract(dayofweek from {{ date_expr }}) + 5, 7) + 1
{%- endmacro %}


{#- date_spine.sql. generate_date_array, both bounds included -#}
{% macro bigquery__date_spine(start_date, end_date) -%}
    select date_day
    from unnest(generate_date_array(
        cast(({{ start_date }}) as date),
        cast(({{ end_date }}) as date),
        interval 1 day
    )) as date_day
{%- endmacro %}


{#- safe_ratio.sql. numeric holds 9 decimals only: the quotient is taken in bignumeric (38
    decimals); round() on it rounds half away from zero, as the other engines do. -#}
{% macro bigquery__safe_ratio(numerator, denominator, scale, precision) -%}
    cast(
        case
            when ({{ denominator }}) <> 0
                then round(cast({{ numerator }} as bignumeric) / ({{ denominator }}), {{ scale }})
        end as numeric({{ precision }}, {{ scale }})
    )
{%- endmacro %}
