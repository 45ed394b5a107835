{#- numerator / denominator as decimal(precision, scale), rounded half-up (half away from
    zero) at `scale` from the exact quotient, the same on every engine; null when the
    denominator is 0 or null. The numerator is cast to decimal before dividing, never through a
    double (11.690 / 800 = 0.0146125 gives 0.014613). Inputs: sums and counts with up to 9
    decimals (a BI tool re-aggregates the ratio from them: round_half_up(sum(num) / sum(den))). -#}
{% macro safe_ratio(numerator, denominator, scale=4, precision=18) -%}
    {{ return(adapter.dispatch('safe_ratio', 'analytics_platform')(numerator, denominator, scale, precision)) }}
{%- endmacro %}

{#- PostgreSQL (numeric division keeps at least the dividend's 18 decimals), Spark (decimal
    division keeps 18 decimals for a bigint denominator, round is HALF_UP) -#}
{% macro default__safe_ratio(numerator, denominator, scale, precision) -%}
    cast(
        case
            when ({{ denominator }}) <> 0
                then round(cast({{ numerator }} as decimal(38, 18)) / ({{ denominator }}), {{ scale }})
        end as decimal({{ precision }}, {{ scale }})
    )
{%- endmacro %}

{#- DuckDB divides decimals through a double: the quotient is taken in integers instead
    (both sides scaled by 10^9 to hugeint, floor division of 2 * |n| * 10^scale + |d| by 2 * |d|
    is |n / d| rounded half-up), then scaled back by a decimal multiplication (exact). -#}
{% macro duckdb__safe_ratio(numerator, denominator, scale, precision) -%}
    {%- set n = 'cast(cast(' ~ numerator ~ ' as decimal(38, 9)) * 1000000000 as hugeint)' -%}
    {%- set d = 'cast(cast(' ~ denominator ~ ' as decimal(38, 9)) * 1000000000 as hugeint)' -%}
    {%- set unit = '0.' ~ ('0' * (scale - 1)) ~ '1' if scale > 0 else '1' -%}
    {#- the outer cast, not one inside the case, sets the column type (PostgreSQL drops a
        branch's typmod: numeric(10, 4) would become plain numeric) -#}
    cast(
        case
            when ({{ denominator }}) <> 0
                then cast(
                    sign({{ n }}) * sign({{ d }})
                    * ((abs({{ n }}) * {{ 2 * 10 ** scale }} + abs({{ d }})) // (2 * abs({{ d }})))
                    as decimal(38, 0)
                ) * cast({{ unit }} as decimal({{ scale + 1 }}, {{ scale }}))
        end as decimal({{ precision }}, {{ scale }})
    )
{%- endmacro %}
