"""The ``files`` monitor: a table that normally gets a newly loaded file each day, and got none on
the day scored, is an alert of its own.

It reads ``bronze._load_audit`` (one row per file load attempt). A file counts as newly loaded
when its row is ``loaded`` (or ``superseded``: it loaded, and a later version replaced it). A file
``skipped`` because the same content was already loaded (a copy of an earlier day delivered
under this day's name) is NOT newly loaded; neither is a ``failed`` one. "Normally" means: on at
least ``normal_share`` of the days in the trailing ``window_days`` on which the loader saw any
file, and on at least ``min_history`` of them. Reference tables written once (facilities,
carriers) are therefore never expected daily.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from .settings import FilesFamily

NEW = ("loaded", "superseded")
SEEN = ("loaded", "superseded", "skipped", "failed")
_DAY = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\.csv$")


@dataclass(frozen=True)
class FileDay:
    """What the loader did with one table's files of one day."""

    table: str
    day: date
    statuses: tuple[str, ...]

    @property
    def new(self) -> bool:
        return any(s in NEW for s in self.statuses)


def audit_days(wh, start: date, end: date) -> list[FileDay]:
    """Per (table, day of the file name) between ``start`` and ``end``: the load statuses."""
    schema = wh.settings.schema
    if not wh.table_exists(schema, "_load_audit"):
        return []
    rows = wh.frame(f"select table_name, file_path, status from {schema}._load_audit")
    seen: dict[tuple[str, date], list[str]] = {}
    for table, path, status in rows.itertuples(index=False, name=None):
        m = _DAY.search(str(path))
        if not m or status not in SEEN:
            continue
        day = date.fromisoformat(m.group(1))
        if start <= day <= end:
            seen.setdefault((str(table), day), []).append(str(status))
    return [FileDay(t, d, tuple(s)) for (t, d), s in sorted(seen.items())]


def newest_batch_day(wh) -> date | None:
    """The newest day (by file name) of any file the loader saw: loaded, skipped or failed."""
    days = [fd.day for fd in audit_days(wh, date.min, date.max)]
    return max(days) if days else None


@dataclass(frozen=True)
class FileVerdict:
    table: str
    day: date
    new_today: bool
    expected_days: int  # days of the window the loader ran
    days_with_new: int  # of them, days this table got a new file
    skipped_today: bool
    normal: bool

    @property
    def share(self) -> float:
        return self.days_with_new / self.expected_days if self.expected_days else 0.0


def file_verdicts(days: list[FileDay], day: date, s: FilesFamily) -> list[FileVerdict]:
    """One verdict per table seen in the window or on ``day``."""
    window = {day - timedelta(days=k) for k in range(1, s.window_days + 1)}
    ran = {fd.day for fd in days if fd.day in window}
    tables = sorted({fd.table for fd in days if fd.day in window or fd.day == day})
    out = []
    for table in tables:
        mine = {fd.day: fd for fd in days if fd.table == table}
        with_new = sum(1 for d in ran if d in mine and mine[d].new)
        today = mine.get(day)
        normal = len(ran) >= s.min_history and with_new >= s.normal_share * len(ran)
        out.append(
            FileVerdict(
                table,
                day,
                bool(today and today.new),
                len(ran),
                with_new,
                bool(today and "skipped" in today.statuses),
                normal,
            )
        )
    return out
