{#- Business rule: a day's landing file carries that day's events. A file of day d none of whose
    rows has an event on d (orders and shipments: updated_at; order lines: their order's
    ordered_at; returns: requested_at; ...) is a probable re-delivery of an earlier day under d's
    name (with other line endings its sha256 differs, so the loader takes it as new) and d's own
    events are missing. Each table's first file is left out: an initial load carries the past.
    A warning: the monitors alert on the missing day's volumes; this names the file. One row
    per suspect file, with the days its events belong to. -#}
{{ config(severity='warn') }}

{%- set events = {
    'orders': 'updated_at',
    'shipments': 'updated_at',
    'customers': 'updated_at',
    'products': 'updated_at',
    'returns': 'requested_at',
    'quality_inspections': 'inspected_at',
    'waste_events': 'recorded_at',
    'delivery_feedback': 'submitted_at',
    'weather_daily': 'weather_date',
} %}
{%- set check_everything = data_tests_check_everything() %}

with

{% for table, column in events.items() %}
    {{ table }}_files as (

        select
            '{{ table }}' as table_name,
            _source_file as source_file,
            count(*) as event_rows,
            min(cast({{ column }} as date)) as first_event_day,
            max(cast({{ column }} as date)) as last_event_day
        from {{ source('bronze', table) }}
        {% if not check_everything %}
            where _loaded_at >= {{ recent_loads_cutoff(source('bronze', table)) }}
        {% endif %}
        group by _source_file

    ),
{% endfor %}

-- an order's placing time is the event of its lines (every version of an order carries it);
-- in the recent scope, of the orders of the lines checked only
orders_placed as (

    select distinct
        order_id,
        ordered_at
    from {{ source('bronze', 'orders') }}
    {% if not check_everything %}
        where order_id in (
            select order_id from {{ source('bronze', 'order_lines') }}
            where _loaded_at >= {{ recent_loads_cutoff(source('bronze', 'order_lines')) }}
        )
    {% endif %}

),

order_lines_files as (

    select
        'order_lines' as table_name,
        order_lines._source_file as source_file,
        count(*) as event_rows,
        min(cast(orders.ordered_at as date)) as first_event_day,
        max(cast(orders.ordered_at as date)) as last_event_day
    from {{ source('bronze', 'order_lines') }} as order_lines
    inner join orders_placed as orders
        on order_lines.order_id = orders.order_id
    {% if not check_everything %}
        where
            order_lines._loaded_at
            >= {{ recent_loads_cutoff(source('bronze', 'order_lines')) }}
    {% endif %}
    group by order_lines._source_file

),

files as (

    {% for table in events %}
        select * from {{ table }}_files
        union all
    {% endfor %}
    select * from order_lines_files

),

-- the day in the file name (`<table>/<YYYY-MM-DD>.csv`)
dated_files as (

    select
        table_name,
        source_file,
        event_rows,
        first_event_day,
        last_event_day,
        cast(left(right(source_file, 14), 10) as date) as file_day
    from files

),

-- the first file of each table (`<table>/<YYYY-MM-DD>.csv`: the least name is the first day,
-- found without parsing every row's name)
first_files as (

    {% for table in events %}
        select
            '{{ table }}' as table_name,
            cast(left(right(min(_source_file), 14), 10) as date) as first_file_day
        from {{ source('bronze', table) }}
        union all
    {% endfor %}
    select
        'order_lines' as table_name,
        cast(left(right(min(_source_file), 14), 10) as date) as first_file_day
    from {{ source('bronze', 'order_lines') }}

),

stale_files as (

    select
        dated_files.table_name,
        dated_files.source_file,
        dated_files.file_day,
        dated_files.event_rows,
        dated_files.first_event_day,
        dated_files.last_event_day
    from dated_files
    inner join first_files
        on dated_files.table_name = first_files.table_name
    where
        dated_files.file_day > first_files.first_file_day
        and dated_files.last_event_day < dated_files.file_day

)

select * from stale_files
