"""Masking of personal data for everything people read: alerts, Data Docs, quality results, logs
and previews of rejected lines.

The PII marks live once, in the table contracts (``TableContract.pii`` in
:mod:`ingestion.contracts`, e.g. ``customers``: first_name, last_name, email, phone,
street_address); every consumer asks this module instead of keeping its own list. dbt's staging
models hash the same columns with a key; this module is for text shown to people, where a hash is
no help and a few characters of shape are.

The masked forms, chosen so the person on call still sees what kind of value broke a check:

- a value of a PII column that looks like an email keeps its first letter, the first letter of
  the domain and the top-level domain: ``victim.name@example.com`` -> ``v***@e***.com``;
- any other value of a PII column becomes ``<masked>`` (an empty string stays ``""`` and a
  missing value stays missing: emptiness is what a not-null check reports, and it is not personal);
- values of other columns are not masked, but :func:`scrub_text` runs over them: the last line
  of defence for a value in the wrong column (an email in ``segment``) and for free text such as
  error messages. It masks emails as above and phone-like numbers as ``<masked phone>``.

What counts as phone-like: 7 to 15 digits standing alone (not inside a word, a path, a time or a
decimal) that start with a ``+`` country code or a bracketed area code, or come in three or more
groups separated by spaces, dots or dashes. So ``+1-202-555-0147``, ``(202) 555-0147``,
``202.555.0147`` and ``+12025550147`` are masked, while ISO dates and timestamps, ``05.01.2026``,
IPv4 addresses, ids, counts and amounts are left alone.

A raw CSV line of a table (a reject preview) is parsed with :mod:`csv` and masked by position, the
fields taken in the order of the file's header (default: the contract's column order). A line
whose field count does not match cannot be trusted by position: then every field of a table with
PII columns is masked, and the fields of other tables are scrubbed.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .contracts import CONTRACTS

MASK = "<masked>"
PHONE_MASK = "<masked phone>"

_EMAIL = re.compile(r"\w[\w.!#$%&'*+/=?^`{|}~-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_MASKED_EMAIL = re.compile(r"\w?\*\*\*@\w?\*\*\*(?:\.[A-Za-z]{2,})?")
_PHONE = re.compile(
    r"(?<![\w.:/@+-])"  # not inside a word, a decimal, a time, a path or an address
    r"(?!\d{4}-\d{2}-\d{2}(?!\d))"  # not an ISO date
    r"(?!\d{1,2}[./]\d{1,2}[./]\d{2,4}(?![\d.]))"  # nor 05.01.2026
    r"(?!\d{1,3}(?:\.\d{1,3}){3}(?![\d.]))"  # nor an IPv4 address
    r"(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,12}(?:[ .-]\d{1,10}){0,4}"  # +1-202-555-0147
    r"|\(\d{1,4}\)[ .-]?\d{2,5}(?:[ .-]\d{1,5}){1,4}"  # (202) 555-0147
    r"|\d{2,5}(?:[ .-]\d{2,5}){2,4}"  # 202 555 0147, 202.555.0147
    r")"
    r"(?![\w@]|[.:/-]\w)"
)


def pii_columns(table: str) -> tuple[str, ...]:
    """The columns ``table``'s contract marks as PII (none for a table without a contract)."""
    contract = CONTRACTS.get(_bare(table))
    return contract.pii if contract is not None else ()


def is_pii(table: str, column: str | None) -> bool:
    """Whether ``column`` of ``table`` (``customers`` or ``bronze.customers``) is marked PII."""
    return column is not None and column in pii_columns(table)


def is_null(value: Any) -> bool:
    """None, NaN and the pandas/NumPy missing markers (``NA``, ``NaT``), without importing pandas."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def mask_email(text: str) -> str:
    """``victim.name@example.com`` -> ``v***@e***.com``."""
    local, _, domain = text.rpartition("@")
    labels = domain.split(".")
    tld = labels[-1] if len(labels) > 1 else ""
    head = f"{local[:1]}***@{labels[0][:1]}***"
    return f"{head}.{tld}" if tld else head


def mask_value(table: str, column: str | None, value: Any) -> Any:
    """``value`` of ``table.column`` as it may be shown: masked for a PII column (nulls stay
    None, an empty string stays empty), otherwise unchanged except that text is scrubbed."""
    if not is_pii(table, column):
        return scrub(value)
    if is_null(value):
        return None
    text = str(value)
    if text == "":
        return ""
    if _EMAIL.fullmatch(text.strip()):
        return mask_email(text.strip())
    if text in (MASK, PHONE_MASK) or _MASKED_EMAIL.fullmatch(text):
        return text  # masked already: masking twice changes nothing
    return MASK


def mask_row(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``row`` (column -> value) with every PII column masked and other text scrubbed."""
    return {column: mask_value(table, column, value) for column, value in row.items()}


def mask_csv_line(table: str, line: str, header: Sequence[str] | None = None) -> str:
    """A raw CSV ``line`` of ``table`` with its PII fields masked (see the module docstring)."""
    columns = list(header) if header is not None else _contract_columns(table)
    try:
        rows = list(csv.reader(io.StringIO(line)))
    except csv.Error:  # not CSV at all: nothing can be masked by position
        return MASK if pii_columns(table) else scrub_text(line)
    if len(rows) != 1:  # an embedded line break or an empty line
        return MASK if pii_columns(table) and line.strip() else scrub_text(line)
    fields = rows[0]
    if len(fields) == len(columns):
        masked = [mask_value(table, c, f) for c, f in zip(columns, fields, strict=True)]
    elif pii_columns(table):
        masked = [MASK if f else f for f in fields]
    else:
        masked = [scrub_text(f) for f in fields]
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(masked)
    return out.getvalue()


def scrub_text(text: str) -> str:
    """``text`` with every email and phone-like number masked."""
    if not text or not any(ch.isdigit() or ch == "@" for ch in text):
        return text
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(_phone, text)


def scrub(value: Any) -> Any:
    """:func:`scrub_text` for text; any other value unchanged."""
    return scrub_text(value) if isinstance(value, str) else value


def _phone(match: re.Match) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return PHONE_MASK if 7 <= digits <= 15 else match.group(0)


def _bare(table: str) -> str:
    return table.rsplit(".", 1)[-1]


def _contract_columns(table: str) -> list[str]:
    contract = CONTRACTS.get(_bare(table))
    if contract is None:
        raise KeyError(f"no contract for table {table!r}: pass the file's header to mask by it")
    return contract.column_names
