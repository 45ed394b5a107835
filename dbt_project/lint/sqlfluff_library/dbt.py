"""Lint-time stand-in for dbt's ``dbt.*`` macro namespace, used by sqlfluff's jinja templater.

dbt resolves ``{{ dbt.type_string() }}`` and friends per adapter; sqlfluff renders the models
without dbt, so these return the DuckDB spelling (the dialect in ``dbt_project/.sqlfluff``).
dbt itself never reads this file (it only parses ``.sql`` files under ``macros/``).
"""


def type_string() -> str:
    return "varchar"


def type_bigint() -> str:
    return "bigint"


def type_int() -> str:
    return "integer"


def type_numeric() -> str:
    return "numeric(28, 6)"


def type_float() -> str:
    return "double"


def type_boolean() -> str:
    return "boolean"


def type_timestamp() -> str:
    return "timestamp"
