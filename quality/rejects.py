"""Previews of the quarantined lines (``bronze._rejects``) for the people who read alerts.

Per table: how many lines were rejected, when the first of them was loaded, and the first few
as ``<file> line <n>: <reason> | <raw line>`` with the raw line masked by the contract's PII marks
(:func:`ingestion.pii.mask_csv_line`). A reason about a PII column has its quoted values masked
too ("could not convert 'Victim' ..." -> "could not convert <masked> ..."); other reasons are
scrubbed of emails and phone numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import PurePath

from ingestion.pii import MASK, is_pii, mask_csv_line, scrub_text

from .samples import clip

PREVIEW_LINES = 3  # lines shown per table
PREVIEW_WIDTH = 400  # characters per line shown
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


@dataclass(frozen=True)
class RejectSummary:
    table: str  # the contract table (``customers``)
    count: int
    since: datetime | None  # when the first of them was loaded (rejected)
    samples: tuple[str, ...]  # masked previews


def preview_line(
    table: str,
    file_path: str,
    line: int | None,
    column: str | None,
    reason: str | None,
    raw: str | None,
) -> str:
    """One rejected line as shown to people, masked."""
    reason = reason or "rejected"
    if is_pii(table, column):
        reason = _QUOTED.sub(MASK, reason)
    where = PurePath(file_path or "?").name + (f" line {line}" if line is not None else "")
    text = f"{where}: {scrub_text(reason)}"
    if raw:
        text += " | " + mask_csv_line(table, raw.rstrip("\r\n"))
    return clip(text, PREVIEW_WIDTH)


def summarize(wh, day: date | None = None, lines: int = PREVIEW_LINES) -> list[RejectSummary]:
    """The rejected lines of ``day``'s files (default: all), per table."""
    if not wh.table_exists("bronze", "_rejects"):
        return []
    mark = wh.mark
    where, params = "", []
    if day is not None:
        where, params = f" where file_path like {mark}", [f"%{day.isoformat()}.csv"]
    counts = wh.frame(
        "select table_name, count(*) as n, min(rejected_at) as since "
        f"from bronze._rejects{where} group by table_name order by table_name",
        params,
    )
    out = []
    for table, n, since in counts.itertuples(index=False):
        first = wh.frame(
            "select file_path, line_number, column_name, reason, raw_line from bronze._rejects "
            f"where table_name = {mark}{where.replace(' where ', ' and ')} "
            f"order by rejected_at, file_path, line_number limit {int(lines)}",
            [table, *params],
        )
        samples = tuple(
            preview_line(table, f, None if ln != ln else int(ln), c, r, raw)
            for f, ln, c, r, raw in first.itertuples(index=False)
        )
        out.append(RejectSummary(str(table), int(n), _moment(since), samples))
    return out


def _moment(value) -> datetime | None:
    if value is None or value != value:
        return None
    moment = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
