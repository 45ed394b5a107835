"""Great Expectations results with personal data masked, before anything keeps or shows them.

GX puts values of failing rows into its results (``partial_unexpected_list``, the value counts, the
index lists, ``observed_value``) and from there into the validation store, the Data Docs,
``quality.check_results`` and the alerts. :func:`install` wraps the context's validation-results
store so every result is masked in place before it is stored; the result object the run returns
is the same masked object, so every consumer downstream sees masked values only.

How: the suite's table (``bronze.customers`` -> ``customers``) and the expectation's columns say
which values belong to a PII column (:mod:`ingestion.pii`): those are masked; every other text in
the result is scrubbed of emails and phone numbers (a value in the wrong column, an error message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingestion.pii import MASK, is_pii, mask_row, mask_value, scrub

VALUE_LISTS = ("partial_unexpected_list", "unexpected_list")
INDEX_LISTS = ("partial_unexpected_index_list", "unexpected_index_list")


def columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    """The columns an expectation reads, in the order GX reports their values."""
    if kwargs.get("column_list"):
        return list(kwargs["column_list"])
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return [kwargs["column"]] if kwargs.get("column") else []


def mask_result(table: str, columns: list[str], result: dict[str, Any]) -> dict[str, Any]:
    """Mask ``result`` (an expectation's result dict) in place and return it."""
    pii = [c for c in columns if is_pii(table, c)]

    def value(v: Any) -> Any:  # one unexpected value of the checked column(s)
        if isinstance(v, Mapping):
            return mask_row(table, v)
        if isinstance(v, list | tuple) and len(columns) > 1 and len(v) == len(columns):
            return [mask_value(table, c, x) for c, x in zip(columns, v, strict=True)]
        if len(columns) == 1:
            return mask_value(table, columns[0], v)
        return MASK if pii else _scrub_any(v)

    for key, item in list(result.items()):
        if key in VALUE_LISTS and isinstance(item, list):
            result[key] = [value(v) for v in item]
        elif key in INDEX_LISTS and isinstance(item, list):
            result[key] = [mask_row(table, r) if isinstance(r, Mapping) else value(r) for r in item]
        elif key == "partial_unexpected_counts" and isinstance(item, list):
            result[key] = [
                {**c, "value": value(c.get("value"))} if isinstance(c, Mapping) else c for c in item
            ]
        elif key == "unexpected_rows" and item is not None:
            result[key] = _masked_rows(table, item)
        elif key in ("observed_value", "details") and pii:
            result[key] = _mask_any(item)
        else:
            result[key] = _scrub_any(item)
    return result


def mask_validation(suite_result) -> Any:
    """Mask every expectation result of a GX ``ExpectationSuiteValidationResult`` in place."""
    table = str(suite_result.suite_name)
    for r in suite_result.results:
        kwargs = r.expectation_config.kwargs if r.expectation_config is not None else {}
        if r.result:
            mask_result(table, columns_of(kwargs), r.result)
        if r.exception_info:
            r.exception_info = _scrub_any(r.exception_info)
    return suite_result


def install(ctx) -> None:
    """Mask every validation result ``ctx`` stores (and returns) from now on."""
    store = ctx.validation_results_store
    if getattr(store, "_pii_masked", False):
        return
    original = store.store_validation_results

    def store_masked(*args, **kwargs):
        if "suite_validation_result" in kwargs:
            kwargs["suite_validation_result"] = mask_validation(kwargs["suite_validation_result"])
        elif args:
            args = (mask_validation(args[0]), *args[1:])
        return original(*args, **kwargs)

    store.store_validation_results = store_masked
    store._pii_masked = True


def mask_store(ctx) -> int:
    """Mask every validation result already in ``ctx``'s store (kept by a version without this
    module, or by a checkpoint run by hand); return how many were rewritten. Idempotent."""
    store = ctx.validation_results_store
    done = 0
    for key in store.list_keys():
        result = store.get(key)
        before = store.serialize(result)
        mask_validation(result)
        if store.serialize(result) != before:
            store.set(key, result)
            done += 1
    return done


def _scrub_any(item: Any) -> Any:
    if isinstance(item, str):
        return scrub(item)
    if isinstance(item, Mapping):
        return {k: _scrub_any(v) for k, v in item.items()}
    if isinstance(item, list | tuple):
        return [_scrub_any(v) for v in item]
    return item


def _mask_any(item: Any) -> Any:
    """Every leaf of ``item`` belongs to a PII column: mask each (missing values stay missing)."""
    if isinstance(item, Mapping):
        return {k: _mask_any(v) for k, v in item.items()}
    if isinstance(item, list | tuple):
        return [_mask_any(v) for v in item]
    if isinstance(item, bool | int | float) or item is None:
        return item  # counts, ratios, flags
    return MASK


def _masked_rows(table: str, rows: Any) -> list[dict[str, Any]]:
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    return [mask_row(table, r) if isinstance(r, Mapping) else _scrub_any(r) for r in records]
